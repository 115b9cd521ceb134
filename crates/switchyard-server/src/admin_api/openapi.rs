//! The OpenAPI 3.1 document, generated from the same [`Operation`] table that builds the
//! router (schemas from the request and response types), and a self-contained interactive
//! reference page (no CDN: it must work on machines without internet).

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

use super::problem::Problem;
use super::{Access, Operation, PREFIX};

pub fn operations() -> Vec<Operation> {
    vec![
        Operation::get(
            "/openapi.json",
            "reference",
            "This document (OpenAPI 3.1)",
            get(document),
        )
        .access(Access::Public)
        .ok::<Value>(200),
        Operation::get(
            "/docs",
            "reference",
            "Interactive reference page",
            get(page),
        )
        .access(Access::Public)
        .html(),
    ]
}

async fn document() -> Response {
    Json(build()).into_response()
}

async fn page() -> Response {
    Html(PAGE).into_response()
}

fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// The document for every operation of the admin API.
pub fn build() -> Value {
    let mut generator = SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    let problem = generator.subschema_for::<Problem>().to_value();
    let mut paths: Map<String, Value> = Map::new();
    for op in super::operations() {
        let mut parameters: Vec<Value> = path_params(op.path)
            .into_iter()
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if let Some(query) = op.query {
            let schema = query(&mut generator).to_value();
            let resolved = resolve(&generator, &schema);
            if let Some(props) = resolved.get("properties").and_then(Value::as_object) {
                let required: Vec<&str> = resolved
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (name, schema) in props {
                    let mut p = json!({
                        "name": name, "in": "query", "required": required.contains(&name.as_str()),
                        "schema": schema,
                    });
                    if let Some(d) = schema.get("description") {
                        p["description"] = d.clone();
                    }
                    parameters.push(p);
                }
            }
        }
        let mut responses = Map::new();
        let (status, ok) = op.ok;
        responses.insert(
            status.to_string(),
            match ok {
                Some(schema) => json!({
                    "description": "success",
                    "content": {op.ok_media: {"schema": schema(&mut generator).to_value()}}
                }),
                None => json!({"description": "success, no content"}),
            },
        );
        let problem_response = |d: &str| json!({"description": d, "content": {"application/problem+json": {"schema": problem}}});
        if op.access != Access::Public {
            responses.insert("401".into(), problem_response("not signed in"));
            responses.insert("403".into(), problem_response("not allowed (role or CSRF)"));
        }
        if op.path.contains('{') {
            responses.insert("404".into(), problem_response("no such resource"));
        }
        if op.query.is_some() {
            responses.insert(
                "400".into(),
                problem_response("a query parameter is malformed"),
            );
        }
        if op.method != axum::http::Method::GET || op.path.contains('{') {
            responses.insert(
                "409".into(),
                problem_response(
                    "conflicts with the current state (a name taken, a resource in use)",
                ),
            );
        }
        responses.insert(
            "422".into(),
            problem_response("invalid input; `field` names it"),
        );
        responses.insert("503".into(), problem_response("the store is unavailable"));
        if op.path == "/login" {
            responses.insert(
                "429".into(),
                problem_response("too many failed sign-ins; see retry-after"),
            );
        }
        let mut operation = json!({
            "operationId": operation_id(&op),
            "summary": op.summary,
            "tags": [op.tag],
            "parameters": parameters,
            "responses": responses,
        });
        if op.access == Access::Public {
            operation["security"] = json!([]);
        } else {
            operation["x-required-role"] = json!(if op.access == Access::Admin {
                "admin"
            } else {
                "user"
            });
        }
        if let Some(body) = op.body {
            operation["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": body(&mut generator).to_value()}}
            });
        }
        let entry = paths
            .entry(format!("{PREFIX}{}", op.path))
            .or_insert_with(|| json!({}));
        entry[op.method.as_str().to_ascii_lowercase()] = operation;
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchyard admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Everything the operator CLI can do. Sign in with POST /api/admin/login; send the token as `Authorization: Bearer`, or use the session cookie plus `x-csrf-token` on changes.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": super::SESSION_COOKIE},
            },
        },
    })
}

/// A `$ref` into the generator's definitions, followed once.
fn resolve(generator: &schemars::SchemaGenerator, schema: &Value) -> Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            generator
                .definitions()
                .get(name)
                .cloned()
                .unwrap_or(Value::Null)
        }
        None => schema.clone(),
    }
}

fn operation_id(op: &Operation) -> String {
    let mut id = op.method.as_str().to_ascii_lowercase();
    for seg in op.path.split('/').filter(|s| !s.is_empty()) {
        let seg = seg.trim_start_matches('{').trim_end_matches('}');
        let seg = seg.replace(['.', '-'], "_");
        id.push('_');
        id.push_str(&seg);
    }
    id
}

/// The interactive reference: lists every operation from the live document and lets a
/// signed-in operator send it (token kept in memory only).
const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard admin API</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
details{margin:.3rem 0;border:1px solid #e3e3e3;border-radius:4px;padding:.3rem .6rem}
summary{cursor:pointer} .m{display:inline-block;width:4.5rem;font-weight:600}
.get{color:#0a6}.post{color:#06c}.patch{color:#a60}.put{color:#a60}.delete{color:#c22}
textarea{width:100%;min-height:6rem;font:12px monospace} pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}
input{font:13px monospace}
</style></head><body>
<h1>Switchyard admin API</h1>
<p>Token: <input id="token" size="50" placeholder="paste a token, or sign in below">
user <input id="u" size="10"> password <input id="p" type="password" size="12"> <button id="login">sign in</button>
&nbsp;<a href="openapi.json">openapi.json</a></p>
<div id="ops">loading…</div>
<script>
const $=s=>document.querySelector(s);
async function call(method,path,body){
  const h={'accept':'application/json'}; const t=$('#token').value.trim();
  if(t) h['authorization']='Bearer '+t;
  if(body!==undefined){h['content-type']='application/json';}
  const r=await fetch(path,{method,headers:h,body:body===undefined?undefined:body,credentials:'omit'});
  const text=await r.text(); return r.status+' '+r.statusText+'\n\n'+text;
}
$('#login').onclick=async()=>{
  const r=await fetch('login',{method:'POST',headers:{'content-type':'application/json'},credentials:'omit',
    body:JSON.stringify({username:$('#u').value,password:$('#p').value})});
  const j=await r.json(); if(j.token){$('#token').value=j.token;} else alert(j.detail||'sign-in failed');
};
fetch('openapi.json').then(r=>r.json()).then(doc=>{
  const byTag={};
  for(const [path,item] of Object.entries(doc.paths)) for(const [method,op] of Object.entries(item))
    (byTag[op.tags[0]]=byTag[op.tags[0]]||[]).push({path,method,op});
  const root=$('#ops'); root.textContent='';
  for(const [tag,ops] of Object.entries(byTag)){
    const h=document.createElement('h2'); h.textContent=tag; root.appendChild(h);
    for(const {path,method,op} of ops){
      const d=document.createElement('details');
      const params=(op.parameters||[]).map(p=>p.name+(p.in==='path'?' (path)':'')).join(', ');
      d.innerHTML='<summary><span class="m '+method+'">'+method.toUpperCase()+'</span><code></code> — <span class="s"></span></summary>'
        +'<p>parameters: <span class="pa"></span></p><p>path with query: <input class="url" size="80"></p>'
        +(op.requestBody?'<p>body (JSON):</p><textarea class="b">{}</textarea>':'')
        +'<button class="go">send</button><pre class="out"></pre>';
      d.querySelector('code').textContent=path; d.querySelector('.s').textContent=op.summary;
      d.querySelector('.pa').textContent=params||'none'; d.querySelector('.url').value=path;
      d.querySelector('.go').onclick=async()=>{
        const b=d.querySelector('.b'); d.querySelector('.out').textContent='…';
        d.querySelector('.out').textContent=await call(method.toUpperCase(),d.querySelector('.url').value,b?b.value:undefined);
      };
      root.appendChild(d);
    }
  }
});
</script></body></html>"##;
