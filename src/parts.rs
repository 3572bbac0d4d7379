//! The pieces of a user message beyond one string: text, images and files. A message that
//! has parts keeps the text of its text parts as its `content`, so search, recall, memory
//! tools and embeddings see what the user wrote; the parts themselves go to the model and
//! into memory with the turn. One `check` holds inputs, imported documents and stored
//! records to the same rules.

use crate::json_text::{push_key, push_str};
use crate::limits::{MAX_INPUT_BYTES, MAX_INPUT_PARTS, MAX_PARTS_BYTES};
use serde::{Deserialize, Serialize};

/// One piece of a message, in its documented JS shape (`{ type: "text", text }`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "lowercase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Part {
    Text {
        text: String,
    },
    /// Exactly one of `url` (http, https) and `data` (base64); `media_type` (`image/*`) is
    /// required with `data`, which has no other way to say what it holds.
    Image {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        media_type: Option<String>,
    },
    /// A document (a PDF, say): exactly one of `url` and `data`, and its media type.
    File {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        data: Option<String>,
        media_type: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
    },
}

/// Where an image's or file's bytes are: a link the provider fetches, or the bytes inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source<'a> {
    Url(&'a str),
    /// Base64, with its media type.
    Data {
        data: &'a str,
        media_type: &'a str,
    },
}

impl Part {
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text { text: text.into() }
    }

    /// The bytes or link of an image or file; `None` for text. Defined for checked parts.
    pub fn source(&self) -> Option<Source<'_>> {
        let (url, data, media_type) = match self {
            Part::Text { .. } => return None,
            Part::Image {
                url,
                data,
                media_type,
            } => (url, data, media_type.as_deref()),
            Part::File {
                url,
                data,
                media_type,
                ..
            } => (url, data, Some(media_type.as_str())),
        };
        match (url, data) {
            (Some(url), _) => Some(Source::Url(url)),
            (None, Some(data)) => Some(Source::Data {
                data,
                media_type: media_type.unwrap_or_default(),
            }),
            (None, None) => None,
        }
    }

    /// Bytes this part holds as text (its text, link or base64), what the size bound counts.
    pub fn len(&self) -> usize {
        match self {
            Part::Text { text } => text.len(),
            Part::Image {
                url,
                data,
                media_type,
            } => opt_len(url) + opt_len(data) + opt_len(media_type),
            Part::File {
                url,
                data,
                media_type,
                filename,
            } => opt_len(url) + opt_len(data) + media_type.len() + opt_len(filename),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A `data:<type>;base64,<data>` link given as `url` becomes `data` and `media_type`, so
    /// each provider can send the bytes in its own inline form; everything else is as given.
    pub fn normalized(self) -> Part {
        fn split(url: &str) -> Option<(String, String)> {
            let rest = url.strip_prefix("data:")?;
            let (head, data) = rest.split_once(',')?;
            let media_type = head.strip_suffix(";base64")?;
            Some((media_type.to_owned(), data.to_owned()))
        }
        match self {
            Part::Image {
                url: Some(url),
                data: None,
                media_type,
            } => match split(&url) {
                Some((t, data)) if media_type.as_deref().is_none_or(|m| m == t) => Part::Image {
                    url: None,
                    data: Some(data),
                    media_type: Some(t),
                },
                _ => Part::Image {
                    url: Some(url),
                    data: None,
                    media_type,
                },
            },
            Part::File {
                url: Some(url),
                data: None,
                media_type,
                filename,
            } => match split(&url) {
                Some((t, data)) if t == media_type => Part::File {
                    url: None,
                    data: Some(data),
                    media_type,
                    filename,
                },
                _ => Part::File {
                    url: Some(url),
                    data: None,
                    media_type,
                    filename,
                },
            },
            other => other,
        }
    }

    /// Appends this part as JSON text, exactly its serde form (see `json_text`).
    pub fn write_json(&self, out: &mut String) {
        let field = |out: &mut String, key: &str, value: &Option<String>| {
            if let Some(v) = value {
                out.push(',');
                push_key(out, key);
                push_str(out, v);
            }
        };
        match self {
            Part::Text { text } => {
                out.push_str("{\"type\":\"text\",");
                push_key(out, "text");
                push_str(out, text);
            }
            Part::Image {
                url,
                data,
                media_type,
            } => {
                out.push_str("{\"type\":\"image\"");
                field(out, "url", url);
                field(out, "data", data);
                field(out, "mediaType", media_type);
            }
            Part::File {
                url,
                data,
                media_type,
                filename,
            } => {
                out.push_str("{\"type\":\"file\"");
                field(out, "url", url);
                field(out, "data", data);
                out.push(',');
                push_key(out, "mediaType");
                push_str(out, media_type);
                field(out, "filename", filename);
            }
        }
        out.push('}');
    }
}

fn opt_len(s: &Option<String>) -> usize {
    s.as_ref().map_or(0, String::len)
}

/// The text of the text parts, one per line: a message's `content`.
pub fn text_of(parts: &[Part]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|p| match p {
            Part::Text { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    texts.join("\n")
}

/// Bytes the base64 text `data` decodes to (it is checked to be base64 first).
pub fn decoded_len(data: &str) -> usize {
    let pad = data.bytes().rev().take_while(|&b| b == b'=').count();
    (data.len() / 4 * 3).saturating_sub(pad)
}

/// The rules every message's parts meet, wherever they come from. The reason names the
/// part (`input[2].mediaType: ...`), for an `invalid_input` or `invalid_import`.
pub fn check(parts: &[Part]) -> Result<(), String> {
    if parts.len() > MAX_INPUT_PARTS {
        return Err(format!(
            "{} parts; the limit is {MAX_INPUT_PARTS}",
            parts.len()
        ));
    }
    let total: usize = parts.iter().map(Part::len).sum();
    if total > MAX_PARTS_BYTES {
        return Err(format!(
            "the parts hold {total} bytes; the limit is {MAX_PARTS_BYTES}"
        ));
    }
    let mut text = 0;
    for (i, p) in parts.iter().enumerate() {
        let at = |field: &str, why: String| format!("input[{i}].{field}: {why}");
        match p {
            Part::Text { text: t } => text += t.trim().len(),
            Part::Image {
                url,
                data,
                media_type,
            } => {
                check_source(url, data).map_err(|(f, why)| at(f, why))?;
                match media_type {
                    Some(m) => check_media_type(m, true).map_err(|why| at("mediaType", why))?,
                    None if data.is_some() => {
                        return Err(at(
                            "mediaType",
                            "is required with `data` (e.g. \"image/png\")".into(),
                        ))
                    }
                    None => {}
                }
            }
            Part::File {
                url,
                data,
                media_type,
                filename,
            } => {
                check_source(url, data).map_err(|(f, why)| at(f, why))?;
                check_media_type(media_type, false).map_err(|why| at("mediaType", why))?;
                if let Some(name) = filename {
                    if name.is_empty() || name.len() > 255 || name.chars().any(char::is_control) {
                        return Err(at(
                            "filename",
                            "must be 1 to 255 bytes without control characters".into(),
                        ));
                    }
                }
            }
        }
    }
    if text == 0 {
        return Err("the text parts hold no text: say what to do with the rest".into());
    }
    let text_bytes: usize = parts
        .iter()
        .map(|p| match p {
            Part::Text { text } => text.len(),
            _ => 0,
        })
        .sum();
    if text_bytes > MAX_INPUT_BYTES {
        return Err(format!(
            "the text parts hold {text_bytes} bytes; the limit is {MAX_INPUT_BYTES}"
        ));
    }
    Ok(())
}

fn check_source(url: &Option<String>, data: &Option<String>) -> Result<(), (&'static str, String)> {
    match (url, data) {
        (Some(_), Some(_)) | (None, None) => {
            Err(("url", "give exactly one of `url` and `data`".into()))
        }
        (Some(url), None) => {
            let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
            let scheme_ok = lower.starts_with("https://") || lower.starts_with("http://");
            if !scheme_ok || url.len() <= "http://".len() {
                return Err((
                    "url",
                    "must be an http(s) URL or a data:<type>;base64, URL".into(),
                ));
            }
            if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(("url", "contains whitespace or control characters".into()));
            }
            Ok(())
        }
        (None, Some(data)) => check_base64(data).map_err(|why| ("data", why)),
    }
}

/// Standard base64 with padding, no whitespace: what both providers decode.
fn check_base64(data: &str) -> Result<(), String> {
    let bytes = data.as_bytes();
    if bytes.is_empty() {
        return Err("is empty".into());
    }
    if bytes.len() % 4 != 0 {
        return Err("is not padded base64 (its length is not a multiple of 4)".into());
    }
    let body = data.trim_end_matches('=');
    if bytes.len() - body.len() > 2 {
        return Err("is not base64 (too much padding)".into());
    }
    match body
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
    {
        Some(at) => Err(format!(
            "is not base64: byte {at} is outside the standard alphabet"
        )),
        None => Ok(()),
    }
}

/// `type/subtype` of RFC 6838 token characters, without parameters; `image/*` for images.
fn check_media_type(m: &str, image: bool) -> Result<(), String> {
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    let valid = matches!(m.split_once('/'), Some((t, s)) if token(t) && token(s));
    if !valid {
        return Err(format!("{m:?} is not a media type like \"image/png\""));
    }
    if image && !m.to_ascii_lowercase().starts_with("image/") {
        return Err(format!("{m:?} is not an image type (image/...)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn image(data: &str) -> Part {
        Part::Image {
            url: None,
            data: Some(data.into()),
            media_type: Some("image/png".into()),
        }
    }

    #[test]
    fn write_json_is_exactly_the_serde_form() {
        let parts = [
            Part::text("a \"quote\"\n"),
            image("aGk="),
            Part::Image {
                url: Some("https://x.test/a.png".into()),
                data: None,
                media_type: None,
            },
            Part::File {
                url: None,
                data: Some("aGk=".into()),
                media_type: "application/pdf".into(),
                filename: Some("a.pdf".into()),
            },
            Part::File {
                url: Some("https://x.test/a.pdf".into()),
                data: None,
                media_type: "application/pdf".into(),
                filename: None,
            },
        ];
        for p in parts {
            let mut ours = String::new();
            p.write_json(&mut ours);
            assert_eq!(ours, serde_json::to_string(&p).unwrap());
            assert_eq!(serde_json::from_str::<Part>(&ours).unwrap(), p);
        }
    }

    #[test]
    fn unknown_fields_and_types_do_not_parse() {
        for bad in [
            r#"{"type":"text","text":"a","extra":1}"#,
            r#"{"type":"audio","data":"aGk="}"#,
            r#"{"type":"file","data":"aGk="}"#,
        ] {
            assert!(serde_json::from_str::<Part>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn check_accepts_the_documented_shapes() {
        let ok = vec![
            Part::text("what is this?"),
            image("aGk="),
            Part::Image {
                url: Some("https://x.test/a.png".into()),
                data: None,
                media_type: None,
            },
            Part::File {
                url: None,
                data: Some("aGVsbG8=".into()),
                media_type: "application/pdf".into(),
                filename: Some("report.pdf".into()),
            },
        ];
        assert_eq!(check(&ok), Ok(()));
    }

    #[test]
    fn check_refuses_each_broken_rule() {
        let text = Part::text("look");
        let cases: Vec<(Part, &str)> = vec![
            (image("aGk"), "data"),
            (image("a$k="), "data"),
            (image("a==="), "data"),
            (image(""), "data"),
            (
                Part::Image {
                    url: None,
                    data: Some("aGk=".into()),
                    media_type: None,
                },
                "mediaType",
            ),
            (
                Part::Image {
                    url: None,
                    data: Some("aGk=".into()),
                    media_type: Some("application/pdf".into()),
                },
                "image type",
            ),
            (
                Part::Image {
                    url: Some("file:///etc/passwd".into()),
                    data: None,
                    media_type: None,
                },
                "http(s)",
            ),
            (
                Part::Image {
                    url: Some("https://x.test/a.png".into()),
                    data: Some("aGk=".into()),
                    media_type: Some("image/png".into()),
                },
                "exactly one",
            ),
            (
                Part::Image {
                    url: None,
                    data: None,
                    media_type: None,
                },
                "exactly one",
            ),
            (
                Part::File {
                    url: None,
                    data: Some("aGk=".into()),
                    media_type: "pdf".into(),
                    filename: None,
                },
                "media type",
            ),
            (
                Part::File {
                    url: None,
                    data: Some("aGk=".into()),
                    media_type: "application/pdf".into(),
                    filename: Some("a\nb".into()),
                },
                "filename",
            ),
        ];
        for (part, why) in cases {
            let e = check(&[text.clone(), part.clone()]).unwrap_err();
            assert!(
                e.contains(why) && e.starts_with("input[1]."),
                "{part:?}: {e}"
            );
        }
        assert!(check(&[image("aGk=")]).unwrap_err().contains("no text"));
        assert!(check(&[Part::text("  ")]).unwrap_err().contains("no text"));
        let big = "A".repeat(MAX_PARTS_BYTES / 4 * 4 + 4);
        assert!(check(&[text.clone(), image(&big)])
            .unwrap_err()
            .contains("limit"));
        let many = vec![text; MAX_INPUT_PARTS + 1];
        assert!(check(&many).unwrap_err().contains("limit"));
    }

    #[test]
    fn data_urls_become_inline_data() {
        let p = Part::Image {
            url: Some("data:image/png;base64,aGk=".into()),
            data: None,
            media_type: None,
        };
        assert_eq!(p.normalized(), image("aGk="));
        // A media type that contradicts the link's is left for `check` to see as a link.
        let p = Part::Image {
            url: Some("data:image/png;base64,aGk=".into()),
            data: None,
            media_type: Some("image/gif".into()),
        };
        assert!(check(&[Part::text("x"), p.normalized()]).is_err());
    }

    #[test]
    fn decoded_len_counts_padding() {
        assert_eq!(decoded_len("aGk="), 2);
        assert_eq!(decoded_len("aGVsbG8="), 5);
        assert_eq!(decoded_len("aGVsbG8h"), 6);
        assert_eq!(decoded_len("aA=="), 1);
    }
}
