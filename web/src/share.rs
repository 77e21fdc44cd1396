//! Share links that carry the trace as well as the settings. A small trace travels inside the
//! fragment (deflated, base64url: `trace=z:…`); a larger one is named by its SHA-256
//! (`trace=sha256:…`), and the page that opens the link asks for that file and checks it. The
//! examples travel by name (`example=fork`). Nothing is ever sent to a server: the fragment
//! stays in the browser.

use serde::{Deserialize, Serialize};

/// Longest inline trace, in fragment characters (browsers take far longer URLs; this keeps a
/// link pasteable into mail and chat).
pub const INLINE_MAX_CHARS: usize = 64 * 1024;
/// Raw bytes the worker keeps for inlining; larger traces are named by hash only (traces
/// deflate about 6:1, so a larger one would not fit [`INLINE_MAX_CHARS`] anyway).
pub const INLINE_MAX_RAW: usize = 512 << 10;
/// Deflate level for inline traces (6: within 3 % of level 9's size at a fifth of its time).
pub const INLINE_LEVEL: u8 = 6;
/// Largest trace an inline link may inflate to.
pub const INFLATE_LIMIT: usize = 8 << 20;

/// How the worker describes the trace it replayed, for the share link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedTrace {
    /// SHA-256 of the bytes read, hex.
    pub sha256: String,
    /// The bytes, deflated and base64url-encoded, when small enough.
    pub inline: Option<String>,
}

/// The rmap the stepper shows and the step it stands at, as a link carries them
/// (`rmap=0x1f&step=12`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FocusRef {
    /// The rmap.
    pub rmap: rmaplab_core::trace::RmapId,
    /// Events applied (`None`: open at the list's peak).
    pub step: Option<usize>,
}

/// The fragment part for the stepper at `step` of `rmap` (no step: at the list's peak).
pub fn focus_part(rmap: rmaplab_core::trace::RmapId, step: Option<usize>) -> String {
    match step {
        Some(k) => format!("&rmap={:#x}&step={k}", rmap.0),
        None => format!("&rmap={:#x}", rmap.0),
    }
}

/// The stepper's rmap and step a fragment names, if any (an rmap in hex with `0x`, or in
/// decimal; a bad one is ignored like any bad setting in a link).
pub fn focus_ref(hash: &str) -> Option<FocusRef> {
    let mut rmap = None;
    let mut step = None;
    for part in hash.trim_start_matches('#').split('&') {
        match part.split_once('=') {
            Some(("rmap", v)) => {
                rmap = match v.strip_prefix("0x") {
                    Some(h) => u64::from_str_radix(h, 16).ok(),
                    None => v.parse().ok(),
                }
            }
            Some(("step", v)) => step = v.parse().ok(),
            _ => {}
        }
    }
    rmap.map(|r| FocusRef {
        rmap: rmaplab_core::trace::RmapId(r),
        step,
    })
}

/// The trace a fragment names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceRef {
    /// A built-in example, by name.
    Example(String),
    /// A trace carried in the link.
    Inline {
        /// Its file name.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A trace named by hash: the user must supply the file.
    Hashed {
        /// Its file name.
        name: String,
        /// SHA-256, hex.
        sha256: String,
    },
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding.
pub fn b64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        let chars = c.len() + 1;
        for i in 0..chars {
            out.push(char::from(B64[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// Decode base64url (padding optional).
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for (i, ch) in s.bytes().enumerate() {
        let v = B64
            .iter()
            .position(|&b| b == ch)
            .ok_or_else(|| format!("the link's trace has a bad character at {i}"))?;
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Ok(out)
}

/// Percent-encode a file name for the fragment.
pub fn encode_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Undo [`encode_component`] (invalid escapes are kept as they are).
pub fn decode_component(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| char::from(c).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The deflated, base64url form of `bytes`, if it fits in a link.
pub fn inline(bytes: &[u8]) -> Option<String> {
    if bytes.len() > INLINE_MAX_RAW {
        return None;
    }
    let packed = miniz_oxide::deflate::compress_to_vec(bytes, INLINE_LEVEL);
    let s = b64url_encode(&packed);
    (s.len() <= INLINE_MAX_CHARS).then_some(s)
}

/// The fragment part that names the trace (empty for the built-in default trace).
pub fn hash_part(name: &str, example: Option<&str>, shared: Option<&SharedTrace>) -> String {
    if let Some(e) = example {
        return format!("&example={}", encode_component(e));
    }
    match shared {
        Some(SharedTrace {
            inline: Some(z), ..
        }) => format!("&name={}&trace=z:{z}", encode_component(name)),
        Some(SharedTrace { sha256, .. }) => {
            format!("&name={}&trace=sha256:{sha256}", encode_component(name))
        }
        None => String::new(),
    }
}

/// What the trace part says while a large trace's hash is being taken.
pub const PENDING: &str = "trace=pending";

/// The fragment part for a trace whose hash is not known yet: a link copied now names the file
/// but no content, and opening it says so instead of showing another trace.
pub fn pending_part(name: &str) -> String {
    format!("&name={}&{PENDING}", encode_component(name))
}

/// The trace a fragment names, if any.
pub fn trace_ref(hash: &str) -> Result<Option<TraceRef>, String> {
    let mut name = None;
    let mut trace = None;
    let mut example = None;
    for part in hash.trim_start_matches('#').split('&') {
        match part.split_once('=') {
            Some(("name", v)) => name = Some(decode_component(v)),
            Some(("trace", v)) => trace = Some(v),
            Some(("example", v)) => example = Some(decode_component(v)),
            _ => {}
        }
    }
    if let Some(e) = example {
        return Ok(Some(TraceRef::Example(e)));
    }
    let Some(t) = trace else {
        return Ok(None);
    };
    let name = name.unwrap_or_else(|| "shared trace".to_string());
    if let Some(z) = t.strip_prefix("z:") {
        let packed = b64url_decode(z)?;
        let bytes = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, INFLATE_LIMIT)
            .map_err(|e| format!("the link's trace does not unpack ({e:?}); it may have been cut short when it was copied"))?;
        return Ok(Some(TraceRef::Inline { name, bytes }));
    }
    if let Some(h) = t.strip_prefix("sha256:") {
        if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Some(TraceRef::Hashed {
                name,
                sha256: h.to_ascii_lowercase(),
            }));
        }
        return Err("the link names its trace by a malformed SHA-256".into());
    }
    if t == "pending" {
        return Err(format!(
            "the link was copied before the page had fingerprinted {name}; copy it again from the page that made it"
        ));
    }
    Err(format!(
        "the link's trace part {t:.20}… is not one rmaplab writes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips() {
        for n in 0..70 {
            let data: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
            assert_eq!(b64url_decode(&b64url_encode(&data)).unwrap(), data);
        }
        assert_eq!(b64url_encode(b"foobar"), "Zm9vYmFy");
        assert!(b64url_decode("a+b").is_err());
    }

    #[test]
    fn links_carry_small_traces_and_name_large_ones() {
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
        let z = inline(&bytes).unwrap();
        let shared = SharedTrace {
            sha256: rmaplab_core::sha256::sha256_hex(&bytes),
            inline: Some(z),
        };
        let part = hash_part("my trace.dat", None, Some(&shared));
        assert_eq!(
            trace_ref(&format!("#n=2{part}")).unwrap(),
            Some(TraceRef::Inline {
                name: "my trace.dat".into(),
                bytes
            })
        );
        let big = SharedTrace {
            inline: None,
            ..shared
        };
        let part = hash_part("big.dat", None, Some(&big));
        assert!(matches!(
            trace_ref(&part).unwrap(),
            Some(TraceRef::Hashed { name, sha256 }) if name == "big.dat" && sha256 == big.sha256
        ));
        assert_eq!(
            trace_ref(&hash_part("x", Some("fork"), None)).unwrap(),
            Some(TraceRef::Example("fork".into()))
        );
        assert_eq!(trace_ref("#n=2,3").unwrap(), None);
        assert!(trace_ref("#trace=z:AAAA").is_err());
        assert!(trace_ref("#trace=sha256:12").is_err());
        assert!(trace_ref("#trace=http://x").is_err());
        assert!(trace_ref(&pending_part("big.dat"))
            .unwrap_err()
            .contains("big.dat"));
        assert_eq!(decode_component(&encode_component("a b/ü%")), "a b/ü%");
        assert_eq!(decode_component("%zz%4"), "%zz%4");
        assert_eq!(decode_component("%ü1"), "%ü1");
    }
}
