//! JSON Lines encoding: a header object on the first line, then one event object per line with
//! an `"ev"` field. Unknown fields are ignored; blank lines are skipped; every error names its
//! 1-based line number.

use super::{check_header, Event, EventCtx, EventKind, RmapKind, TraceError, TraceMeta};
use super::{RmapId, SpteId, VcpuId};
use super::{FORMAT_NAME, FORMAT_VERSION};
use serde::Deserialize;

/// Longest line accepted (a 10 MB line is refused with an error, not buffered forever).
pub const MAX_LINE_BYTES: usize = 1 << 20;

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow)]
    ev: Option<std::borrow::Cow<'a, str>>,
    rmap: Option<RmapId>,
    spte: Option<SpteId>,
    vcpu: Option<VcpuId>,
    gfn: Option<u64>,
    level: Option<u8>,
    kind: Option<RmapKind>,
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
    value: Option<u64>,
    #[serde(borrow)]
    label: Option<std::borrow::Cow<'a, str>>,
}

/// Parse one event line (without its newline).
pub fn parse_event_line(line: &[u8], lineno: u64) -> Result<Event, TraceError> {
    let err = |msg: String| TraceError::Jsonl { line: lineno, msg };
    let text = std::str::from_utf8(line).map_err(|e| {
        err(format!(
            "not UTF-8 text (invalid byte at column {})",
            e.valid_up_to() + 1
        ))
    })?;
    let raw: RawEvent<'_> =
        serde_json::from_str(text).map_err(|e| err(format!("not a valid event object: {e}")))?;
    let ev = raw.ev.as_deref().ok_or_else(|| {
        err("missing \"ev\" field (add, remove, zap, walk, fault, stat, mark)".into())
    })?;
    let need = |field: &str| err(format!("\"{ev}\" event needs a numeric \"{field}\" field"));
    let kind = match ev {
        "add" => EventKind::Add {
            rmap: raw.rmap.ok_or_else(|| need("rmap"))?,
            spte: raw.spte.ok_or_else(|| need("spte"))?,
        },
        "remove" => EventKind::Remove {
            rmap: raw.rmap.ok_or_else(|| need("rmap"))?,
            spte: raw.spte.ok_or_else(|| need("spte"))?,
        },
        "zap" => EventKind::Zap {
            rmap: raw.rmap.ok_or_else(|| need("rmap"))?,
        },
        "walk" => EventKind::Walk {
            rmap: raw.rmap.ok_or_else(|| need("rmap"))?,
        },
        "fault" => EventKind::Fault {
            vcpu: raw
                .vcpu
                .ok_or_else(|| err("\"fault\" event needs a numeric \"vcpu\" field".into()))?,
        },
        "stat" => EventKind::Stat {
            name: raw
                .name
                .ok_or_else(|| err("\"stat\" event needs a \"name\" string".into()))?
                .into_owned(),
            value: raw.value.ok_or_else(|| need("value"))?,
        },
        "mark" => EventKind::Mark {
            label: raw.label.map(|l| l.into_owned()).unwrap_or_default(),
        },
        other => {
            return Err(err(format!(
            "unknown event type {other:?} (expected add, remove, zap, walk, fault, stat or mark)"
        )))
        }
    };
    let ctx = match kind {
        EventKind::Add { .. }
        | EventKind::Remove { .. }
        | EventKind::Zap { .. }
        | EventKind::Walk { .. } => EventCtx {
            vcpu: raw.vcpu,
            gfn: raw.gfn,
            level: raw.level,
            kind: raw.kind,
        },
        _ => EventCtx::default(),
    };
    Ok(Event { kind, ctx })
}

/// Parse the header line.
pub fn parse_header_line(line: &[u8]) -> Result<TraceMeta, TraceError> {
    let err = |msg: String| TraceError::Jsonl { line: 1, msg };
    let text = std::str::from_utf8(line).map_err(|_| err("header is not UTF-8 text".into()))?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| err(format!("header is not a JSON object: {e}")))?;
    let obj = value
        .as_object()
        .ok_or_else(|| err("header is not a JSON object".into()))?;
    if obj.get("format").and_then(|v| v.as_str()) != Some(FORMAT_NAME) {
        return Err(err(format!(
            "the first line must be the header {{\"format\":\"{FORMAT_NAME}\",\"version\":{FORMAT_VERSION},...}}"
        )));
    }
    let version = obj
        .get("version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| err("header needs a numeric \"version\"".into()))?;
    if version > u64::from(FORMAT_VERSION) {
        return Err(TraceError::FutureVersion {
            found: u32::try_from(version).unwrap_or(u32::MAX),
        });
    }
    let meta: TraceMeta =
        serde_json::from_value(value).map_err(|e| err(format!("bad header field: {e}")))?;
    check_header(&meta).map_err(err)?;
    Ok(meta)
}

/// Incremental JSON Lines decoder.
#[derive(Debug, Default)]
pub struct JsonlDecoder {
    buf: Vec<u8>,
    pos: usize,
    line: u64,
    meta: Option<TraceMeta>,
    finished: bool,
}

impl JsonlDecoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        JsonlDecoder::default()
    }

    /// Feed bytes.
    pub fn push(&mut self, chunk: &[u8]) {
        super::push_chunk(&mut self.buf, &mut self.pos, chunk);
    }

    /// Take the next complete line, or the rest at end of input.
    fn take_line(&mut self, at_end: bool) -> Result<Option<(usize, usize)>, TraceError> {
        let rest = &self.buf[self.pos..];
        match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => {
                if nl > MAX_LINE_BYTES {
                    return Err(self.too_long());
                }
                let start = self.pos;
                self.pos += nl + 1;
                self.line += 1;
                Ok(Some((start, start + nl)))
            }
            None if rest.len() > MAX_LINE_BYTES => Err(self.too_long()),
            None if at_end && !rest.is_empty() => {
                let start = self.pos;
                self.pos = self.buf.len();
                self.line += 1;
                Ok(Some((start, self.buf.len())))
            }
            None => Ok(None),
        }
    }

    fn too_long(&self) -> TraceError {
        TraceError::Jsonl {
            line: self.line + 1,
            msg: format!(
                "line is longer than {MAX_LINE_BYTES} bytes; an rmaplab event line is under 200 bytes — is this the right file?"
            ),
        }
    }

    fn next_inner(&mut self, at_end: bool, header_only: bool) -> Result<Option<Event>, TraceError> {
        loop {
            let Some((s, e)) = self.take_line(at_end)? else {
                return Ok(None);
            };
            let mut line = &self.buf[s..e];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if self.meta.is_none() {
                let mut meta = parse_header_line(line).map_err(|e| match e {
                    TraceError::Jsonl { msg, .. } => TraceError::Jsonl {
                        line: self.line,
                        msg,
                    },
                    other => other,
                })?;
                if meta.version == 0 {
                    meta.version = FORMAT_VERSION;
                }
                self.meta = Some(meta);
                if header_only {
                    return Ok(None);
                }
                continue;
            }
            return parse_event_line(line, self.line).map(Some);
        }
    }

    /// The header, once read.
    pub fn meta(&mut self) -> Result<Option<&TraceMeta>, TraceError> {
        if self.meta.is_none() {
            // Stops right after the header, so no event is consumed.
            self.next_inner(self.finished, true)?;
        }
        Ok(self.meta.as_ref())
    }

    /// The next event, or `None` if more input is needed.
    pub fn next_event(&mut self) -> Result<Option<Event>, TraceError> {
        self.next_inner(false, false)
    }

    /// End of input: the final unterminated line, if any.
    pub fn finish(&mut self) -> Result<Option<Event>, TraceError> {
        self.finished = true;
        let ev = self.next_inner(true, false)?;
        if ev.is_none() && self.meta.is_none() {
            return Err(TraceError::Empty);
        }
        Ok(ev)
    }
}

/// Append the header line to `out`.
pub fn write_header(meta: &TraceMeta, out: &mut Vec<u8>) {
    // Serializing a TraceMeta cannot fail: every field is a string, number, bool or JSON value.
    if serde_json::to_writer(&mut *out, meta).is_ok() {
        out.push(b'\n');
    }
}

/// Append one event line to `out`.
pub fn write_event(ev: &Event, out: &mut Vec<u8>) {
    use std::io::Write;
    let ctx = |out: &mut Vec<u8>| {
        let c = &ev.ctx;
        if let Some(v) = c.vcpu {
            let _ = write!(out, ",\"vcpu\":{v}");
        }
        if let Some(g) = c.gfn {
            let _ = write!(out, ",\"gfn\":{g}");
        }
        if let Some(l) = c.level {
            let _ = write!(out, ",\"level\":{l}");
        }
        match c.kind {
            Some(RmapKind::Gfn) => out.extend_from_slice(b",\"kind\":\"gfn\""),
            Some(RmapKind::Parent) => out.extend_from_slice(b",\"kind\":\"parent\""),
            None => {}
        }
    };
    // Writes into a Vec<u8> cannot fail.
    match &ev.kind {
        EventKind::Add { rmap, spte } => {
            let _ = write!(out, "{{\"ev\":\"add\",\"rmap\":{rmap},\"spte\":{spte}");
            ctx(out);
        }
        EventKind::Remove { rmap, spte } => {
            let _ = write!(out, "{{\"ev\":\"remove\",\"rmap\":{rmap},\"spte\":{spte}");
            ctx(out);
        }
        EventKind::Zap { rmap } => {
            let _ = write!(out, "{{\"ev\":\"zap\",\"rmap\":{rmap}");
            ctx(out);
        }
        EventKind::Walk { rmap } => {
            let _ = write!(out, "{{\"ev\":\"walk\",\"rmap\":{rmap}");
            ctx(out);
        }
        EventKind::Fault { vcpu } => {
            let _ = write!(out, "{{\"ev\":\"fault\",\"vcpu\":{vcpu}");
        }
        EventKind::Stat { name, value } => {
            out.extend_from_slice(b"{\"ev\":\"stat\",\"name\":");
            let _ = serde_json::to_writer(&mut *out, name);
            let _ = write!(out, ",\"value\":{value}");
        }
        EventKind::Mark { label } => {
            out.extend_from_slice(b"{\"ev\":\"mark\",\"label\":");
            let _ = serde_json::to_writer(&mut *out, label);
        }
    }
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{RmapId, SpteId, VcpuId};

    fn decode(text: &str) -> Result<Vec<Event>, TraceError> {
        let mut d = JsonlDecoder::new();
        d.push(text.as_bytes());
        let mut v = Vec::new();
        while let Some(e) = d.next_event()? {
            v.push(e);
        }
        while let Some(e) = d.finish()? {
            v.push(e);
        }
        Ok(v)
    }

    #[test]
    fn reads_events_and_ignores_unknown_fields() {
        let t = "{\"format\":\"rmaplab-trace\",\"version\":1,\"vcpus\":2}\n\
                 {\"ev\":\"add\",\"rmap\":1,\"spte\":2,\"vcpu\":1,\"colour\":\"red\"}\n\
                 \n{\"ev\":\"stat\",\"name\":\"pages_4k\",\"value\":3}";
        let v = decode(t).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v[0].kind,
            EventKind::Add {
                rmap: RmapId(1),
                spte: SpteId(2)
            }
        );
        assert_eq!(v[0].ctx.vcpu, Some(VcpuId(1)));
    }

    #[test]
    fn errors_name_the_line() {
        let t = "{\"format\":\"rmaplab-trace\",\"version\":1}\n{\"ev\":\"add\",\"rmap\":1}\n";
        match decode(t) {
            Err(TraceError::Jsonl { line, msg }) => {
                assert_eq!(line, 2);
                assert!(msg.contains("spte"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode("{\"format\":\"rmaplab-trace\",\"version\":7}\n"),
            Err(TraceError::FutureVersion { found: 7 })
        ));
        assert!(matches!(
            decode("{\"format\":\"other\",\"version\":1}\n"),
            Err(TraceError::Jsonl { line: 1, .. })
        ));
    }

    #[test]
    fn huge_line_is_refused() {
        let mut t = String::from("{\"format\":\"rmaplab-trace\",\"version\":1}\n");
        t.push_str(&"x".repeat(MAX_LINE_BYTES + 10));
        assert!(matches!(decode(&t), Err(TraceError::Jsonl { line: 2, .. })));
    }
}
