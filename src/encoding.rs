//! The text encoding of claims files: UTF-8 unless `--encoding` says otherwise, and a hint when
//! a file looks like GBK (Excel's default on Chinese Windows) or UTF-16 but is read as UTF-8.

use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// The encodings a claims file may be read from.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 (a byte order mark is skipped).
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// GBK, read as GB18030 (its superset), as Excel saves CSV on Chinese Windows.
    #[value(alias = "gb18030")]
    Gbk,
    /// UTF-16, little- or big-endian by its byte order mark (little-endian without one).
    #[value(name = "utf-16", alias = "utf16")]
    Utf16,
}

/// The `--encoding` chosen, for [`open`].
static CHOSEN: std::sync::OnceLock<Encoding> = std::sync::OnceLock::new();

/// Remember `--encoding` for every claims file this run reads.
pub fn choose(encoding: Encoding) {
    let _ = CHOSEN.set(encoding);
}

/// Whether the hint was given already (a report reads its claims twice).
static HINTED: AtomicBool = AtomicBool::new(false);

/// Files from this size on show a bar while they are read, on a terminal.
const PROGRESS_FROM: u64 = 32 << 20;

/// The claims file as UTF-8: the file itself, or its text decoded by `--encoding`. A file read
/// as UTF-8 whose start looks like another encoding gets a hint on standard error. On a
/// terminal, a large file shows a bar of the bytes read.
pub fn open(path: &Path) -> std::io::Result<Box<dyn Read + Send>> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata().map_or(0, |m| m.len());
    let mut file: Box<dyn Read + Send> =
        if size >= PROGRESS_FROM && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let bar = indicatif::ProgressBar::new(size)
                .with_message(format!("reading {}", path.display()))
                .with_finish(indicatif::ProgressFinish::AndClear);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{msg} [{bar:40}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            Box::new(bar.wrap_read(file))
        } else {
            Box::new(file)
        };
    let encoding = CHOSEN.get().copied().unwrap_or(Encoding::Utf8);
    if encoding == Encoding::Utf8 {
        let mut start = vec![0u8; 64 << 10];
        let n = read_up_to(&mut file, &mut start)?;
        start.truncate(n);
        if let Some(hint) = sniff(&start)
            && !HINTED.swap(true, Ordering::Relaxed)
        {
            eprintln!("hint: `{}` {hint}", path.display());
        }
        return Ok(Box::new(std::io::Cursor::new(start).chain(file)));
    }
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let decoder = match encoding {
        Encoding::Gbk => encoding_rs::GB18030,
        _ => encoding_rs::UTF_16LE,
    };
    // A byte order mark decides over the encoding named (UTF-16 big-endian by its mark).
    let (text, _, malformed) = decoder.decode(&bytes);
    if malformed {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("it is not {} text", label(encoding)),
        ));
    }
    Ok(Box::new(std::io::Cursor::new(text.into_owned().into_bytes())))
}

fn label(encoding: Encoding) -> &'static str {
    match encoding {
        Encoding::Utf8 => "UTF-8",
        Encoding::Gbk => "GBK",
        Encoding::Utf16 => "UTF-16",
    }
}

/// Fill `buf` as far as the reader goes; how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(buf.get_mut(n..).unwrap_or_default())? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// What the start of a file says, when it is not UTF-8: a hint naming the encoding it looks like.
fn sniff(start: &[u8]) -> Option<&'static str> {
    let utf16 = start.starts_with(&[0xFF, 0xFE])
        || start.starts_with(&[0xFE, 0xFF])
        || start.iter().take(200).filter(|b| **b == 0).count() > 20;
    if utf16 {
        return Some("looks like UTF-16 text: run with `--encoding utf-16`, or save it as UTF-8");
    }
    // The last character may be cut by the 64 KiB window: judge what comes before it.
    let valid = match std::str::from_utf8(start) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    if valid {
        return None;
    }
    let (_, _, malformed) = encoding_rs::GB18030.decode(start);
    (!malformed).then_some(
        "is not UTF-8 and reads as GBK (as Excel saves CSV on Chinese Windows): run with \
         `--encoding gbk`, or save it as UTF-8",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_and_utf16_are_told_from_utf8() {
        let text = "id,member\nc1,张三\n";
        assert_eq!(sniff(text.as_bytes()), None);
        let (gbk, _, _) = encoding_rs::GBK.encode(text);
        assert!(sniff(&gbk).is_some_and(|h| h.contains("--encoding gbk")));
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        assert!(sniff(&utf16).is_some_and(|h| h.contains("--encoding utf-16")));
        // A multi-byte character cut by the window's end is still UTF-8.
        let cut = "张".as_bytes();
        assert_eq!(sniff(cut.get(..2).unwrap_or_default()), None);
    }
}
