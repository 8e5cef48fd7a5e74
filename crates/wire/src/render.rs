//! Rendering of responses: JSON by default, XML when the request asked for `Format=XML`.

use crate::error::WireError;
use crate::registry::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::escape::escape;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    pub fn from_param(value: Option<&str>) -> Self {
        match value {
            Some(v) if v.eq_ignore_ascii_case("xml") => Self::Xml,
            _ => Self::Json,
        }
    }
}

const JSON_TYPE: &str = "application/json;charset=utf-8";
/// The exact content type for which the tea SDKs parse an XML error body.
const XML_TYPE: &str = "text/xml;charset=utf-8";

fn response(status: StatusCode, format: Format, body: String, request_id: &str) -> Response {
    let content_type = if format == Format::Xml { XML_TYPE } else { JSON_TYPE };
    let mut r = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-acs-request-id", v);
    }
    r
}

/// A success: the action's fields with `RequestId` added.
pub fn success(action: &str, body: Body, format: Format, request_id: &str) -> Response {
    let text = match format {
        Format::Json => body.json_with("RequestId", request_id),
        Format::Xml => {
            let mut fields = body.into_fields();
            fields.insert("RequestId".into(), Value::String(request_id.to_owned()));
            let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
            xml_element(&mut out, &format!("{action}Response"), &Value::Object(fields));
            out
        }
    };
    response(StatusCode::OK, format, text, request_id)
}

pub fn error(err: &WireError, format: Format, request_id: &str, host_id: &str) -> Response {
    let mut body = Map::new();
    body.insert("RequestId".into(), request_id.into());
    body.insert("HostId".into(), host_id.into());
    body.insert("Code".into(), err.code.as_ref().into());
    body.insert("Message".into(), err.message.clone().into());
    body.insert("Recommend".into(), err.recommend().into());
    let text = match format {
        Format::Json => Value::Object(body).to_string(),
        Format::Xml => {
            let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
            xml_element(&mut out, "Error", &Value::Object(body));
            out
        }
    };
    response(err.status, format, text, request_id)
}

/// Writes `value` as `<name>…</name>`. An array becomes one element per item, each
/// named after the field, as the CAS XML examples show.
fn xml_element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Array(items) => {
            for item in items {
                xml_element(out, name, item);
            }
        }
        Value::Null => {}
        _ => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            match value {
                Value::Object(map) => {
                    for (k, v) in map {
                        xml_element(out, k, v);
                    }
                }
                Value::String(s) => out.push_str(&escape(s.as_str())),
                other => out.push_str(&other.to_string()),
            }
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn xml_shapes() {
        let mut out = String::new();
        let v = json!({"TotalCount": 2, "List": [{"a": "x<y"}, {"a": "z"}], "Empty": [], "Ok": true});
        xml_element(&mut out, "R", &v);
        assert_eq!(
            out,
            "<R><List><a>x&lt;y</a></List><List><a>z</a></List><Ok>true</Ok><TotalCount>2</TotalCount></R>"
        );
    }
}
