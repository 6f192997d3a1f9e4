//! The OpenAPI document, made exact. utoipa's derives describe the types; what the server
//! checks beyond the types — ranges, lengths, patterns, the settings' table, the answers every
//! route can give — is written here (and by each route module's `declare`) into the generated
//! document from the same constants and rules the checks use, so a check and its declaration
//! cannot drift apart. Clients are generated from this document and `scripts/api_fuzz.sh`
//! holds the running server to it.
//!
//! What JSON Schema cannot say (a time that must lie in the future or near the server's clock,
//! a schedule's start before its end) is said in the field's description.

use axum::http::Method;
use hivesched_policy::SchedulerConfig;
use hivesched_policy::config::{Range, ranges};
use serde_json::Value;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::header::Header;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, Array, ArrayItems, KnownFormat, Object, Schema, SchemaFormat, SchemaType,
    Type,
};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

use crate::auth::Role;
use crate::config;

/// Everything this module and the route modules add, in order: the routes' own constraints,
/// the runtime settings, the answers common to many routes, then the bounds every number's
/// width implies (last, so it fills in only what nothing tighter declared).
pub fn refine(doc: &mut OpenApi) {
    crate::routes::declare(doc);
    runtime_settings(doc);
    common_responses(doc);
    number_widths(doc);
}

// ---- Finding what to refine. A name that does not exist is a bug in the declaration, found by
// ---- every test that builds the document, so these panic with the name.

/// The schema of property `property` of component `component`.
pub fn property<'a>(doc: &'a mut OpenApi, component: &str, property: &str) -> &'a mut Schema {
    let schema = doc
        .components
        .as_mut()
        .and_then(|c| c.schemas.get_mut(component))
        .unwrap_or_else(|| panic!("no component schema {component}"));
    let RefOr::T(Schema::Object(object)) = schema else {
        panic!("component {component} is not an object schema");
    };
    match object.properties.get_mut(property) {
        Some(RefOr::T(schema)) => schema,
        _ => panic!("{component} has no inline property {property}"),
    }
}

/// `schema` as an object (string, number, integer, object) schema.
pub fn object(schema: &mut Schema) -> &mut Object {
    match schema {
        Schema::Object(object) => object,
        _ => panic!("not an object schema"),
    }
}

/// `schema` as an array schema.
pub fn array(schema: &mut Schema) -> &mut Array {
    match schema {
        Schema::Array(array) => array,
        _ => panic!("not an array schema"),
    }
}

/// The inline item schema of an array.
pub fn items(array: &mut Array) -> &mut Object {
    match &mut array.items {
        ArrayItems::RefOrSchema(item) => match item.as_mut() {
            RefOr::T(Schema::Object(object)) => object,
            _ => panic!("array items are not an inline object schema"),
        },
        ArrayItems::False => panic!("array has no items"),
    }
}

/// The operation `method path` (the full path, `/api/v1/...`).
pub fn operation<'a>(doc: &'a mut OpenApi, method: Method, path: &str) -> &'a mut Operation {
    let item = doc
        .paths
        .paths
        .get_mut(path)
        .unwrap_or_else(|| panic!("no path {path}"));
    let op = match method {
        Method::GET => &mut item.get,
        Method::PUT => &mut item.put,
        Method::POST => &mut item.post,
        Method::DELETE => &mut item.delete,
        Method::PATCH => &mut item.patch,
        _ => panic!("no {method} operations here"),
    };
    op.as_mut()
        .unwrap_or_else(|| panic!("no operation {method} {path}"))
}

/// The inline schema of parameter `name` of operation `method path`.
pub fn parameter<'a>(
    doc: &'a mut OpenApi,
    method: Method,
    path: &str,
    name: &str,
) -> &'a mut Object {
    let parameter = operation(doc, method.clone(), path)
        .parameters
        .iter_mut()
        .flatten()
        .find_map(|p| match p {
            RefOr::T(p) if p.name == name => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"));
    match parameter.schema.as_mut() {
        Some(RefOr::T(Schema::Object(object))) => object,
        _ => panic!("parameter {name} of {path} has no inline schema"),
    }
}

/// Sets an inclusive integer or number range.
pub fn range(schema: &mut Object, min: impl Into<utoipa::Number>, max: impl Into<utoipa::Number>) {
    schema.minimum = Some(min.into());
    schema.maximum = Some(max.into());
}

/// Sets how many items an array holds.
pub fn item_count(array: &mut Array, min: usize, max: usize) {
    array.min_items = Some(min);
    array.max_items = Some(max);
}

// ---- The runtime settings.

/// `RuntimeSettings`: `tick_interval` from its range, and `scheduler` — declared `Object` by
/// the derive, since its type lives in the decision core, which knows nothing of HTTP — built
/// from the scheduler's own defaults (every key, its type and default) and its range table.
fn runtime_settings(doc: &mut OpenApi) {
    let tick = object(property(doc, "RuntimeSettings", "tick_interval"));
    declare_range(tick, &config::ranges::TICK_INTERVAL);
    tick.description = Some(format!(
        "Seconds between two ticks of the engine: {}.",
        config::ranges::TICK_INTERVAL.describe()
    ));
    let defaults = serde_json::to_value(SchedulerConfig::default())
        .expect("the scheduler's defaults serialize to JSON");
    let mut scheduler = settings_object("", &defaults);
    scheduler.description = Some(
        "The scheduler's rails and safety settings. Every key is optional (absent keys take \
         their defaults); durations are whole seconds."
            .into(),
    );
    *property(doc, "RuntimeSettings", "scheduler") = Schema::Object(scheduler);
}

/// The schema of the settings table whose defaults are `defaults`, keys prefixed by `prefix`.
fn settings_object(prefix: &str, defaults: &Value) -> Object {
    let Value::Object(keys) = defaults else {
        panic!("settings {prefix:?} are not a table");
    };
    let mut table = Object::with_type(Type::Object);
    for (key, default) in keys {
        let dotted = format!("{prefix}{key}");
        let schema = match default {
            Value::Bool(_) => {
                let mut flag = Object::with_type(Type::Boolean);
                flag.default = Some(default.clone());
                Schema::Object(flag)
            }
            Value::Number(n) => {
                let kind = if n.is_f64() {
                    Type::Number
                } else {
                    Type::Integer
                };
                let range = setting_range(&dotted);
                let mut number = Object::with_type(kind);
                declare_range(&mut number, &range);
                number.description = Some(format!("`{dotted}`: {}.", range.describe()));
                number.default = Some(default.clone());
                Schema::Object(number)
            }
            Value::Object(_) => {
                let mut table = settings_object(&format!("{dotted}."), default);
                table.default = Some(default.clone());
                Schema::Object(table)
            }
            Value::Array(_) if dotted == "schedules" => {
                let mut list = schedules();
                list.default = Some(default.clone());
                Schema::Array(list)
            }
            other => panic!("setting {dotted} has a default of unexpected shape: {other}"),
        };
        table.properties.insert(key.clone(), RefOr::T(schema));
    }
    // `#[serde(default, deny_unknown_fields)]`: nothing is required, nothing else is allowed.
    table.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    table
}

/// The range of a numeric setting, by its dotted key.
fn setting_range(key: &str) -> Range {
    ranges::ALL
        .iter()
        .find(|r| r.key == key)
        .copied()
        .unwrap_or_else(|| panic!("numeric setting {key} has no range in policy::config::ranges"))
}

/// Writes a setting's range as JSON Schema bounds.
fn declare_range(schema: &mut Object, range: &Range) {
    if range.exclusive_min {
        schema.exclusive_minimum = Some(range.min.into());
    } else {
        schema.minimum = Some(range.min.into());
    }
    schema.maximum = Some(range.max.into());
}

/// A schedule's bounds, as `policy::SchedulerConfig::validate` checks them.
const MINUTES_PER_DAY: u32 = hivesched_policy::config::ranges::MINUTES_PER_DAY;
const LAST_WEEKDAY: u32 = hivesched_policy::config::ranges::LAST_WEEKDAY as u32;

/// `schedules`: at most `MAX_SCHEDULES` time-of-day floors.
fn schedules() -> Array {
    let minute = |min: u32, max: u32, what: &str| {
        let mut m = Object::with_type(Type::Integer);
        m.format = Some(SchemaFormat::KnownFormat(KnownFormat::UInt32));
        range(&mut m, min, max);
        m.description = Some(what.to_owned());
        RefOr::T(Schema::Object(m))
    };
    let mut floor = Object::with_type(Type::Object);
    floor.properties.insert(
        "start_minute".into(),
        minute(
            0,
            MINUTES_PER_DAY - 1,
            "Minute of the day (UTC) the floor starts.",
        ),
    );
    floor.properties.insert(
        "end_minute".into(),
        minute(
            1,
            MINUTES_PER_DAY,
            "Minute of the day (UTC) the floor ends, exclusive; must be greater than \
             `start_minute`.",
        ),
    );
    let mut day = Object::with_type(Type::Integer);
    range(&mut day, 0, LAST_WEEKDAY);
    let mut weekdays = Array::new(day);
    item_count(&mut weekdays, 0, LAST_WEEKDAY as usize + 1);
    weekdays.default = Some(Value::Array(Vec::new()));
    weekdays.description =
        Some("Days it applies, 0 = Monday … 6 = Sunday; empty means every day.".into());
    floor
        .properties
        .insert("weekdays".into(), RefOr::T(Schema::Array(weekdays)));
    let mut min_awake = Object::with_type(Type::Integer);
    min_awake.format = Some(SchemaFormat::KnownFormat(KnownFormat::UInt32));
    declare_range(&mut min_awake, &ranges::MIN_AWAKE);
    min_awake.description = Some("Awake agents to keep at least while it applies.".into());
    floor
        .properties
        .insert("min_awake".into(), RefOr::T(Schema::Object(min_awake)));
    floor.required = vec![
        "start_minute".into(),
        "end_minute".into(),
        "min_awake".into(),
    ];
    floor.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
    floor.description =
        Some("A capacity floor in force on some days between two times of day (UTC).".into());
    let mut list = Array::new(floor);
    item_count(&mut list, 0, ranges::MAX_SCHEDULES);
    list
}

// ---- Answers common to many routes, declared on every operation that can give them: from
// ---- its security requirement (a token is checked, against the database's revocation list),
// ---- its request body (a JSON body is parsed) and its query parameters.

/// One common answer: status, the codes it carries and when.
struct Common {
    status: u16,
    text: String,
}

fn common_responses(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for common in common_for(op) {
                add_response(op, common);
            }
        }
    }
}

/// The common answers `op` can give.
fn common_for(op: &Operation) -> Vec<Common> {
    let role = minimum_role(op);
    // OFREP routes read their body themselves and answer its faults in the protocol's shape
    // (declared on each route); only the body limit is enforced before them.
    let ofrep = op
        .tags
        .iter()
        .flatten()
        .any(|t| t == crate::routes::ofrep::TAG);
    let body = op.request_body.is_some() && !ofrep;
    let query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Query)));
    let mut out = Vec::new();
    let mut add = |status, text: &str| {
        out.push(Common {
            status,
            text: text.to_owned(),
        })
    };
    if body {
        add(
            400,
            "`malformed_json`: the body is not one JSON value (or has anything but whitespace \
             after it).",
        );
    }
    if role.is_some() {
        add(
            401,
            "`unauthorized`: no bearer token, or one that is malformed, badly signed, expired, \
             not yet valid, without a subject or revoked.",
        );
    }
    if let Some(role) = role.filter(|r| *r > Role::Viewer) {
        add(
            403,
            &format!(
                "`forbidden`: the token's role is below `{}`.",
                role.as_str()
            ),
        );
    }
    if body {
        add(
            413,
            "`payload_too_large`: the body is larger than `max_body_bytes`.",
        );
        add(
            415,
            "`unsupported_media_type`: the body is not sent as `application/json`.",
        );
    }
    if body || query {
        add(
            422,
            "`invalid_field`: an unknown field or query parameter, a missing one, or one of \
             the wrong type; `field` names it.",
        );
    }
    add(
        503,
        "`timeout`: the request ran longer than `request_timeout`; retry.",
    );
    if role.is_some() {
        add(503, "`database_unavailable`: the database failed; retry.");
    }
    out
}

/// The minimum role of `op`: the scope of its `bearer` security requirement.
fn minimum_role(op: &Operation) -> Option<Role> {
    let requirement = op.security.as_ref()?.first()?;
    let scopes = serde_json::to_value(requirement).ok()?;
    let scope = scopes.get("bearer")?.get(0)?.as_str()?;
    Some(
        scope
            .parse()
            .unwrap_or_else(|_| panic!("unknown role {scope} in a security requirement")),
    )
}

/// Adds `common` to `op`'s responses: a new error response, or one more line of the
/// description of the response the route declared for that status.
fn add_response(op: &mut Operation, common: Common) {
    let status = common.status.to_string();
    let response = op
        .responses
        .responses
        .entry(status)
        .or_insert_with(|| RefOr::T(error_response()));
    let RefOr::T(response) = response else {
        panic!("response {} is a reference", common.status);
    };
    if response.description.is_empty() {
        response.description = common.text;
    } else {
        response.description = format!("{}\n\n{}", response.description, common.text);
    }
    if common.status == 401 {
        response
            .headers
            .insert("WWW-Authenticate".into(), RefOr::T(www_authenticate()));
    }
}

/// An error response: an [`crate::error::ErrorBody`] as JSON.
fn error_response() -> Response {
    let mut response = Response::new("");
    response.content.insert(
        "application/json".into(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("ErrorBody")))),
    );
    response
}

/// Every 401 carries `WWW-Authenticate: Bearer` (RFC 6750).
fn www_authenticate() -> Header {
    let mut value = Object::with_type(Type::String);
    value.enum_values = Some(vec![Value::from("Bearer")]);
    let mut header = Header::new(value);
    header.description = Some("Always `Bearer`: the scheme the API expects.".into());
    // utoipa's `Header` has no `required` field; the OpenAPI header object does, and without it
    // a client may not rely on the header being there.
    let mut required = Extensions::default();
    required.insert("required".into(), Value::Bool(true));
    header.extensions = Some(required);
    header
}

// ---- Number widths.

/// Gives every integer and number schema in the document the bounds its format (its Rust
/// type's width) implies, unless a tighter bound was declared: a client then knows what fits,
/// and a fuzzer does not send a number no field could hold.
fn number_widths(doc: &mut OpenApi) {
    let visit = |schema: &mut Schema| walk(schema, &mut bound_number);
    if let Some(components) = doc.components.as_mut() {
        for schema in components.schemas.values_mut() {
            if let RefOr::T(schema) = schema {
                visit(schema);
            }
        }
    }
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            for parameter in op.parameters.iter_mut().flatten() {
                if let RefOr::T(parameter) = parameter
                    && let Some(RefOr::T(schema)) = parameter.schema.as_mut()
                {
                    visit(schema);
                }
            }
        }
    }
}

/// Calls `f` on `schema` and every inline schema inside it.
fn walk(schema: &mut Schema, f: &mut impl FnMut(&mut Object)) {
    match schema {
        Schema::Object(object) => {
            f(object);
            for property in object.properties.values_mut() {
                if let RefOr::T(property) = property {
                    walk(property, f);
                }
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(item) = &mut array.items
                && let RefOr::T(item) = item.as_mut()
            {
                walk(item, f);
            }
        }
        Schema::OneOf(one_of) => {
            for item in &mut one_of.items {
                if let RefOr::T(item) = item {
                    walk(item, f);
                }
            }
        }
        Schema::AllOf(all_of) => {
            for item in &mut all_of.items {
                if let RefOr::T(item) = item {
                    walk(item, f);
                }
            }
        }
        Schema::AnyOf(any_of) => {
            for item in &mut any_of.items {
                if let RefOr::T(item) = item {
                    walk(item, f);
                }
            }
        }
        _ => {}
    }
}

/// The bounds of the numeric formats utoipa writes (integers with `non_strict_integers`).
fn format_bounds(format: &KnownFormat) -> Option<(utoipa::Number, utoipa::Number)> {
    Some(match format {
        KnownFormat::Int8 => (i8::MIN.into(), i8::MAX.into()),
        KnownFormat::UInt8 => (u8::MIN.into(), u8::MAX.into()),
        KnownFormat::Int16 => (i16::MIN.into(), i16::MAX.into()),
        KnownFormat::UInt16 => (u16::MIN.into(), u16::MAX.into()),
        KnownFormat::Int32 => (i32::MIN.into(), i32::MAX.into()),
        KnownFormat::UInt32 => (u32::MIN.into(), u32::MAX.into()),
        KnownFormat::Int64 => (i64::MIN.into(), i64::MAX.into()),
        KnownFormat::UInt64 => (u64::MIN.into(), u64::MAX.into()),
        KnownFormat::Float => (f32::MIN.into(), f32::MAX.into()),
        KnownFormat::Double => (f64::MIN.into(), f64::MAX.into()),
        _ => return None,
    })
}

fn bound_number(object: &mut Object) {
    let is_number = |t: &Type| matches!(t, Type::Integer | Type::Number);
    let is_number = match &object.schema_type {
        SchemaType::Type(t) => is_number(t),
        SchemaType::Array(types) => types.iter().any(is_number),
        _ => false,
    };
    let Some(SchemaFormat::KnownFormat(format)) = &object.format else {
        return;
    };
    let Some((min, max)) = format_bounds(format).filter(|_| is_number) else {
        return;
    };
    if object.minimum.is_none() && object.exclusive_minimum.is_none() {
        object.minimum = Some(min);
    }
    if object.maximum.is_none() && object.exclusive_maximum.is_none() {
        object.maximum = Some(max);
    }
}

/// The whole document as JSON, for tests that read it.
#[cfg(test)]
fn document() -> Value {
    serde_json::from_str(&crate::openapi_json()).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every response object needs a description (OpenAPI 3.1 requires it).
    #[test]
    fn every_response_is_described() {
        let doc = document();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for (status, response) in op["responses"].as_object().unwrap() {
                    let text = response["description"].as_str().unwrap_or_default();
                    assert!(!text.is_empty(), "{method} {path} {status}");
                }
            }
        }
    }

    /// Every integer and number a client sends has both bounds: nothing it can send is refused
    /// for a range the document keeps quiet about.
    #[test]
    fn every_number_a_client_sends_is_bounded() {
        fn check(schema: &Value, doc: &Value, at: &str, seen: &mut Vec<String>) {
            if let Some(name) = schema["$ref"].as_str() {
                let name = name.trim_start_matches("#/components/schemas/");
                if !seen.contains(&name.to_owned()) {
                    seen.push(name.to_owned());
                    check(&doc["components"]["schemas"][name], doc, name, seen);
                }
                return;
            }
            let types: Vec<&str> = match &schema["type"] {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if types.contains(&"integer") || types.contains(&"number") {
                let min = schema.get("minimum").or(schema.get("exclusiveMinimum"));
                let max = schema.get("maximum").or(schema.get("exclusiveMaximum"));
                assert!(min.is_some() && max.is_some(), "{at}: {schema}");
            }
            for (name, property) in schema["properties"].as_object().into_iter().flatten() {
                check(property, doc, &format!("{at}.{name}"), seen);
            }
            for key in ["items", "additionalProperties"] {
                if schema[key].is_object() {
                    check(&schema[key], doc, &format!("{at}[]"), seen);
                }
            }
            for key in ["oneOf", "anyOf", "allOf"] {
                for item in schema[key].as_array().into_iter().flatten() {
                    check(item, doc, at, seen);
                }
            }
        }
        let doc = document();
        let mut seen = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let at = format!("{method} {path}");
                for p in op["parameters"].as_array().into_iter().flatten() {
                    check(&p["schema"], &doc, &at, &mut seen);
                }
                let body = &op["requestBody"]["content"]["application/json"]["schema"];
                if body.is_object() {
                    check(body, &doc, &at, &mut seen);
                }
            }
        }
        assert!(seen.contains(&"RuntimeSettings".to_owned()), "{seen:?}");
    }

    #[test]
    fn every_scheduler_setting_is_declared_with_its_range() {
        let doc = document();
        let scheduler = &doc["components"]["schemas"]["RuntimeSettings"]["properties"]["scheduler"];
        assert_eq!(scheduler["additionalProperties"], Value::Bool(false));
        for range in ranges::ALL {
            let mut schema = scheduler;
            for part in range.key.split('.') {
                schema = &schema["properties"][part];
            }
            let min_key = if range.exclusive_min {
                "exclusiveMinimum"
            } else {
                "minimum"
            };
            assert_eq!(schema[min_key].as_f64(), Some(range.min), "{}", range.key);
            assert_eq!(schema["maximum"].as_f64(), Some(range.max), "{}", range.key);
        }
        let tick = &doc["components"]["schemas"]["RuntimeSettings"]["properties"]["tick_interval"];
        assert_eq!(
            tick["minimum"].as_f64(),
            Some(config::ranges::TICK_INTERVAL.min)
        );
        assert_eq!(
            tick["maximum"].as_f64(),
            Some(config::ranges::TICK_INTERVAL.max)
        );
        // The defaults the document shows are the scheduler's.
        let defaults = serde_json::to_value(SchedulerConfig::default()).unwrap();
        assert_eq!(
            scheduler["properties"]["rails"]["default"],
            defaults["rails"]
        );
        assert_eq!(
            scheduler["properties"]["capacity"]["default"],
            defaults["capacity"]
        );
    }

    /// The schedule bounds declared here are those `SchedulerConfig::validate` applies: each
    /// bound accepted, one past it refused.
    #[test]
    fn schedule_bounds_match_the_scheduler_validation() {
        use hivesched_policy::config::ScheduledFloor;
        let valid = |floor: ScheduledFloor| {
            SchedulerConfig {
                schedules: vec![floor],
                ..SchedulerConfig::default()
            }
            .validate()
            .is_ok()
        };
        let floor = |start, end, weekdays: Vec<u8>, min_awake| ScheduledFloor {
            start_minute: start,
            end_minute: end,
            weekdays,
            min_awake,
        };
        let max_awake = ranges::MIN_AWAKE.max as u32;
        let day = MINUTES_PER_DAY;
        let last = LAST_WEEKDAY as u8;
        assert!(valid(floor(0, day, vec![0, last], max_awake)));
        assert!(valid(floor(day - 1, day, (0..=last).collect(), 0)));
        assert!(!valid(floor(day, day + 1, vec![], 1)));
        assert!(!valid(floor(0, day + 1, vec![], 1)));
        assert!(!valid(floor(0, 10, vec![last + 1], 1)));
        assert!(!valid(floor(
            0,
            10,
            (0..=last + 1).map(|d| d % 7).collect(),
            1
        )));
        assert!(!valid(floor(0, 10, vec![], max_awake + 1)));
        // What the document cannot say, and says in words: start before end.
        assert!(!valid(floor(10, 10, vec![], 1)));

        let doc = document();
        let scheduler = &doc["components"]["schemas"]["RuntimeSettings"]["properties"]["scheduler"];
        let schedules = &scheduler["properties"]["schedules"];
        assert_eq!(schedules["maxItems"], ranges::MAX_SCHEDULES);
        let entry = &schedules["items"]["properties"];
        assert_eq!(entry["start_minute"]["maximum"], day - 1);
        assert_eq!(entry["end_minute"]["maximum"], day);
        assert_eq!(entry["end_minute"]["minimum"], 1);
        assert_eq!(entry["weekdays"]["maxItems"], u32::from(last) + 1);
        assert_eq!(entry["weekdays"]["items"]["maximum"], u32::from(last));
        assert_eq!(entry["min_awake"]["maximum"], max_awake);
    }

    #[test]
    fn secured_routes_declare_401_with_its_header_and_body_routes_their_parse_errors() {
        let doc = document();
        let mut secured = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = &op["responses"];
                if op.get("security").is_some() {
                    secured += 1;
                    let header = &responses["401"]["headers"]["WWW-Authenticate"];
                    assert_eq!(header["required"], true, "{method} {path}");
                    assert!(
                        responses["503"]["description"]
                            .as_str()
                            .unwrap()
                            .contains("database_unavailable"),
                        "{method} {path}"
                    );
                } else {
                    assert!(responses.get("401").is_none(), "{method} {path}");
                }
                let ofrep = op["tags"][0] == crate::routes::ofrep::TAG;
                if op.get("requestBody").is_some() && !ofrep {
                    for status in ["400", "413", "415", "422"] {
                        assert!(responses.get(status).is_some(), "{method} {path} {status}");
                    }
                }
                // OFREP reads any body and answers its faults in the protocol's 400 shape.
                if ofrep {
                    for status in ["400", "413"] {
                        assert!(responses.get(status).is_some(), "{method} {path} {status}");
                    }
                    for status in ["415", "422"] {
                        assert!(responses.get(status).is_none(), "{method} {path} {status}");
                    }
                }
            }
        }
        assert!(secured > 15, "{secured}");
    }
}
