-- Drives `settle lsp` from Neovim's built-in client (0.7 or later), headless, for
-- tests/lsp_neovim.rs: open a broken policy, wait for its diagnostics, fix it with the quick fix
-- the server offers, wait for them to clear, then ask for a hover, a definition and the inlay
-- hints, and rename a parameter through the client's own workspace edit. Everything seen is
-- written as JSON to $SETTLE_RESULT, and Neovim quits.

local settle = os.getenv('SETTLE_BIN')
local policy = os.getenv('SETTLE_POLICY')
local result_path = os.getenv('SETTLE_RESULT')
local result = {}

local function position(name)
  local line, character = os.getenv(name):match('^(%d+):(%d+)$')
  return { line = tonumber(line), character = tonumber(character) }
end

local function diagnostics(buf)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(out, {
      line = d.lnum,
      col = d.col,
      severity = d.severity,
      code = d.code,
      message = d.message,
    })
  end
  return out
end

local ok, err = pcall(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(policy))
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = 'settle',
    cmd = { settle, 'lsp' },
    root_dir = vim.fn.fnamemodify(policy, ':h'),
  })
  assert(client_id, 'the client starts')
  vim.lsp.buf_attach_client(buf, client_id)
  local uri = vim.uri_from_bufnr(buf)

  local function sync(method, params)
    local responses = vim.lsp.buf_request_sync(buf, method, params, 20000)
    local response = responses and responses[client_id]
    return response and response.result
  end

  local function request(method, at)
    return sync(method, { textDocument = { uri = uri }, position = position(at) })
  end

  -- The broken file: its diagnostics appear.
  result.appeared = vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  result.broken = diagnostics(buf)

  -- The fix, as the server's quick fix applied by the client: they clear.
  local d = vim.diagnostic.get(buf)[1]
  local actions = sync('textDocument/codeAction', {
    textDocument = { uri = uri },
    range = {
      start = { line = d.lnum, character = d.col },
      ['end'] = { line = d.end_lnum, character = d.end_col },
    },
    context = { diagnostics = {} },
  }) or {}
  result.actions = {}
  for _, action in ipairs(actions) do
    table.insert(result.actions, action.title)
  end
  assert(actions[1] and actions[1].edit, 'a quick fix with an edit')
  vim.lsp.util.apply_workspace_edit(actions[1].edit, 'utf-16')
  result.cleared = vim.wait(20000, function() return #vim.diagnostic.get(buf) == 0 end, 50)
  result.fixed = diagnostics(buf)

  local hover = request('textDocument/hover', 'SETTLE_HOVER')
  result.hover = hover and hover.contents and hover.contents.value

  local definition = request('textDocument/definition', 'SETTLE_DEFINITION')
  if definition and definition.uri == nil then
    definition = definition[1]
  end
  result.definition = definition

  local last = vim.api.nvim_buf_line_count(buf)
  local hints = sync('textDocument/inlayHint', {
    textDocument = { uri = uri },
    range = { start = { line = 0, character = 0 }, ['end'] = { line = last, character = 0 } },
  }) or {}
  result.hints = {}
  for _, hint in ipairs(hints) do
    local label = hint.label
    if type(label) == 'table' then
      label = label[1].value
    end
    table.insert(result.hints, { line = hint.position.line, label = label })
  end

  -- Rename through the client: the server's edit applied to the buffer.
  local renamed = sync('textDocument/rename', {
    textDocument = { uri = uri },
    position = position('SETTLE_RENAME'),
    newName = os.getenv('SETTLE_NEW_NAME'),
  })
  assert(renamed, 'a rename edit')
  vim.lsp.util.apply_workspace_edit(renamed, 'utf-16')
  result.renamed = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
  -- A request after the edit: the server checks the renamed text before it answers, and
  -- publishes that check's diagnostics first.
  local renamed_hover = request('textDocument/hover', 'SETTLE_HOVER')
  result.renamed_hover = renamed_hover and renamed_hover.contents and renamed_hover.contents.value
  result.after_rename = diagnostics(buf)

  vim.lsp.stop_client(client_id)
  result.stopped = vim.wait(10000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
end)

if not ok then
  result.error = tostring(err)
end
local file = io.open(result_path, 'w')
file:write(vim.fn.json_encode(result))
file:close()
vim.cmd('qall!')
