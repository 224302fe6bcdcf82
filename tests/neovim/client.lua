-- Drives `settle lsp` from Neovim's built-in client (0.7 or later), headless, for
-- tests/lsp_neovim.rs: open a broken policy, wait for its diagnostics, fix it, wait for them to
-- clear, then ask for a hover and a definition. Everything seen is written as JSON to
-- $SETTLE_RESULT, and Neovim quits.

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

  -- The broken file: its diagnostics appear.
  result.appeared = vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  result.broken = diagnostics(buf)

  -- The fix, as an edit of the buffer: they clear.
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  for i, line in ipairs(lines) do
    lines[i] = line:gsub('deductable%[', 'deductible[')
  end
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  result.cleared = vim.wait(20000, function() return #vim.diagnostic.get(buf) == 0 end, 50)
  result.fixed = diagnostics(buf)

  local uri = vim.uri_from_bufnr(buf)
  local function request(method, at)
    local params = { textDocument = { uri = uri }, position = position(at) }
    local responses = vim.lsp.buf_request_sync(buf, method, params, 20000)
    local response = responses and responses[client_id]
    return response and response.result
  end

  local hover = request('textDocument/hover', 'SETTLE_HOVER')
  result.hover = hover and hover.contents and hover.contents.value

  local definition = request('textDocument/definition', 'SETTLE_DEFINITION')
  if definition and definition.uri == nil then
    definition = definition[1]
  end
  result.definition = definition

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
