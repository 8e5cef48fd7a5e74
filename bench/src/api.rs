//! A signed-request client of one server, shared by the bench binaries.

use crate::load;
use crate::servers::Opencas;
use crate::sign;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, StatusCode, Uri};

#[derive(Clone)]
pub struct Ctx {
    pub addr: std::net::SocketAddr,
    host: String,
    key_id: String,
    secret: String,
}

impl Ctx {
    pub fn of(o: &Opencas) -> Self {
        Self {
            addr: o.server.addr,
            host: o.server.addr.to_string(),
            key_id: o.access_key_id.clone(),
            secret: o.access_key_secret.clone(),
        }
    }

    pub fn request(&self, version: &str, action: &str, params: &[(&str, &str)]) -> load::Req {
        let query = sign::canonical_query(params);
        let uri: Uri = format!("/?{query}").parse().expect("valid uri");
        let mut b = Request::post(uri);
        for (k, v) in sign::v3_headers(&self.host, action, version, &query, &self.key_id, &self.secret) {
            b = b.header(k, v);
        }
        b.header("content-length", "0")
            .body(Full::new(Bytes::new()))
            .expect("request")
    }

    pub async fn call(
        &self,
        version: &str,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, String> {
        let (status, body) = load::one_shot(self.addr, self.request(version, action, params)).await?;
        if status != StatusCode::OK {
            return Err(format!("{action}: {}", load::describe_failure(status, &body)));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{action}: not JSON: {e}"))
    }
}
