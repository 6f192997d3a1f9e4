//! Request extractors whose rejections are [`ApiError`]s that name the offending field, instead
//! of axum's plain-text rejections.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body: 415 without a JSON content type, 413 over the body limit, 400 for broken JSON,
/// 422 naming the field for unknown fields, missing fields and wrong types.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(usize::MAX, |l| l.0);
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The configured body limit, put in request extensions so rejections can quote it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

fn is_json(content_type: Option<&header::HeaderValue>) -> bool {
    let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserializes `bytes`, classifying failures: syntax → [`ApiError::MalformedJson`], anything
/// about the data → [`ApiError::InvalidField`] with the dotted path of the field. The body must
/// be one JSON value: anything but whitespace after it is malformed.
///
/// The body is read into a `JsonBody` first and `T` is taken from that: JSON Schema, which
/// our OpenAPI document speaks, counts `5.0` as the integer 5, and a client may well send it
/// so; serde alone would refuse it for every integer field (including the scheduler settings,
/// whose types this crate does not own).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let JsonBody(value) = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        match inner.classify() {
            // Only a repeated key is a data error at this stage.
            serde_json::error::Category::Data => field_error(&path, &inner.to_string()),
            _ => ApiError::MalformedJson(inner.to_string()),
        }
    })?;
    // Deserializing stops after the first complete value; without this check
    // `{"a":1} garbage` would be taken as `{"a":1}` and the rest silently dropped.
    de.end()
        .map_err(|e| ApiError::MalformedJson(format!("after the JSON value: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        field_error(&path, &err.into_inner().to_string())
    })
}

/// A JSON value read the way JSON Schema reads it: a number with a zero fractional part that
/// fits a 64-bit integer is that integer (`5.0` is 5; `5.5` stays a float, and an integer
/// field refuses it), and an object that repeats a key is refused rather than silently keeping
/// the last one.
struct JsonBody(serde_json::Value);

impl<'de> serde::Deserialize<'de> for JsonBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonBodyVisitor).map(JsonBody)
    }
}

struct JsonBodyVisitor;

impl<'de> serde::de::Visitor<'de> for JsonBodyVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        // 2^63 and 2^64 are exact in f64; the casts below cannot saturate inside these bounds.
        const I64_END: f64 = 9_223_372_036_854_775_808.0;
        const U64_END: f64 = 18_446_744_073_709_551_616.0;
        Ok(if v.fract() != 0.0 || !v.is_finite() {
            serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into)
        } else if (-I64_END..0.0).contains(&v) {
            (v as i64).into()
        } else if (0.0..U64_END).contains(&v) {
            (v as u64).into()
        } else {
            serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into)
        })
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(JsonBody(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(items.into())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "duplicate field `{key}`"
                )));
            }
            let JsonBody(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(object.into())
    }
}

/// Builds an [`ApiError::InvalidField`] from a serde path and message.
pub fn field_error(path: &str, message: &str) -> ApiError {
    let (field, message) = name_field(path, message);
    ApiError::InvalidField { field, message }
}

/// The full field name and a clean message from a serde path and error message. serde reports
/// unknown and missing fields at their parent, naming the field only in the message; the field
/// is appended to the path so callers always get the full field name (`(body)` for the root).
pub fn name_field(path: &str, message: &str) -> (String, String) {
    let named = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let parent = if path == "." { "" } else { path };
    let field = match named {
        Some(name) if parent.is_empty() => name.to_owned(),
        // Some deserializers (toml's) already include the field in the path.
        Some(name) if parent == name || parent.ends_with(&format!(".{name}")) => parent.to_owned(),
        Some(name) => format!("{parent}.{name}"),
        None if parent.is_empty() => "(body)".to_owned(),
        None => parent.to_owned(),
    };
    // serde_json appends " at line 1 column 12"; the field path says more.
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(m, _)| m)
        .to_owned();
    (field, message)
}

/// Query parameters, rejected with 422 naming the parameter.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|err| {
                let path = err.path().to_string();
                field_error(&path, &err.into_inner().to_string())
            })
    }
}

/// The `limit` query parameter of a listing: `default` when absent, else 1..=`max`. One rule
/// for every paged route, so they all refuse alike, and the OpenAPI document declares each
/// route's limit from the same value ([`PageLimit::declare`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageLimit {
    /// Page size when `limit` is absent.
    pub default: u32,
    /// Largest page size.
    pub max: u32,
}

impl PageLimit {
    /// Smallest page size.
    pub const MIN: u32 = 1;

    /// The rule for a listing with this default and maximum.
    pub const fn new(default: u32, max: u32) -> Self {
        PageLimit { default, max }
    }

    /// The page size to use, or a 422 naming `limit`.
    pub fn resolve(self, limit: Option<u32>) -> Result<u32, ApiError> {
        let limit = limit.unwrap_or(self.default);
        if (Self::MIN..=self.max).contains(&limit) {
            Ok(limit)
        } else {
            Err(ApiError::invalid_value(
                "limit",
                format!("must be between {} and {}", Self::MIN, self.max),
            ))
        }
    }

    /// Writes the rule into the `limit` parameter's schema.
    pub fn declare(self, schema: &mut utoipa::openapi::schema::Object) {
        schema.minimum = Some(Self::MIN.into());
        schema.maximum = Some(self.max.into());
        schema.default = Some(self.default.into());
    }
}

/// Characters `char::is_whitespace` (Unicode `White_Space`) calls whitespace; a test holds the
/// list to that function, so [`non_blank_pattern`] and [`check_non_blank`] agree.
const WHITESPACE: [char; 25] = [
    '\t', '\n', '\u{b}', '\u{c}', '\r', ' ', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
    '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}',
    '\u{2009}', '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
];

/// Free text that must say something, such as every `reason`: at least one character that is
/// not whitespace, else a 422 naming `field`.
pub fn check_non_blank(field: &str, text: &str) -> Result<(), ApiError> {
    if text.chars().all(|c| WHITESPACE.contains(&c)) {
        Err(ApiError::invalid_value(
            field,
            "must contain something other than whitespace",
        ))
    } else {
        Ok(())
    }
}

/// The rule of [`check_non_blank`] as a JSON Schema `pattern` (unanchored: one character that
/// is not whitespace, anywhere).
pub fn non_blank_pattern() -> String {
    let class: String = WHITESPACE
        .iter()
        .map(|c| format!("\\u{:04x}", u32::from(*c)))
        .collect();
    format!("[^{class}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        count: u32,
        #[serde(default)]
        share: f64,
        #[serde(default)]
        delta: i64,
    }

    #[test]
    fn integral_numbers_are_integers_as_json_schema_says() {
        let b: Body = parse_json(br#"{"count": 5.0, "share": 2, "delta": -3.0}"#).unwrap();
        assert_eq!(
            b,
            Body {
                count: 5,
                share: 2.0,
                delta: -3
            }
        );
        for bad in [
            r#"{"count": 5.5}"#,
            r#"{"count": -1.0}"#,
            r#"{"count": 1e20}"#,
        ] {
            let err = parse_json::<Body>(bad.as_bytes()).unwrap_err();
            assert!(
                matches!(&err, ApiError::InvalidField { field, .. } if field == "count"),
                "{bad}: {err:?}"
            );
        }
    }

    #[test]
    fn a_repeated_key_is_refused_naming_it() {
        let err = parse_json::<Body>(br#"{"count": 1, "count": 2}"#).unwrap_err();
        assert!(
            matches!(&err, ApiError::InvalidField { field, .. } if field == "count"),
            "{err:?}"
        );
    }

    #[test]
    fn broken_or_trailing_json_is_malformed() {
        for bad in ["{\"count\": ", "{\"count\": 1} x", "\u{0}", ""] {
            let err = parse_json::<Body>(bad.as_bytes()).unwrap_err();
            assert!(
                matches!(err, ApiError::MalformedJson(_)),
                "{bad:?}: {err:?}"
            );
        }
    }

    #[test]
    fn the_whitespace_list_is_unicode_white_space() {
        for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
            assert_eq!(WHITESPACE.contains(&c), c.is_whitespace(), "{c:?}");
        }
    }

    /// The declared pattern accepts exactly the texts the check accepts.
    #[test]
    fn the_non_blank_pattern_is_the_check() {
        let pattern = regex::Regex::new(&non_blank_pattern()).unwrap();
        let mut texts: Vec<String> = (0..0x3100u32)
            .filter_map(char::from_u32)
            .flat_map(|c| [c.to_string(), format!(" {c}\u{3000}"), format!("{c}{c}")])
            .collect();
        texts.extend(["", "  ", "\t\n", "a", " a "].map(String::from));
        for text in &texts {
            assert_eq!(
                pattern.is_match(text),
                check_non_blank("reason", text).is_ok(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn page_limits_default_and_refuse_outside_their_range() {
        let page = PageLimit::new(50, 500);
        assert_eq!(page.resolve(None).unwrap(), 50);
        assert_eq!(page.resolve(Some(1)).unwrap(), 1);
        assert_eq!(page.resolve(Some(500)).unwrap(), 500);
        for bad in [0, 501] {
            assert!(
                matches!(page.resolve(Some(bad)), Err(ApiError::InvalidValue { field, .. }) if field == "limit")
            );
        }
    }
}
