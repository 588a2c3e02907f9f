//! Request JSON → parse → decide against a fixed manifest: never a panic.
#![no_main]

use std::sync::OnceLock;

use cordon_policy::manifest;
use cordon_policy::pdp::{CompileOptions, Pdp, Request};
use libfuzzer_sys::fuzz_target;

const MANIFEST: &[u8] = br#"{"agentName":"fuzz","version":"1.0.0","expires":"2030-01-01T00:00:00Z",
 "readPaths":["/home/user/Work/Reports","/srv/*/public"],"writePaths":["/home/user/Work/Reports/outgoing"],
 "denyPaths":["/home/user/Work/Reports/private"],
 "networkScopes":["https://internal-api.corp.example.com","https://*.example.org/v1"],
 "apiScopes":["sheets:read","sheets:write:restricted","mail:*"],
 "apis":{"mail:send":{"mcpTools":[{"server":"outlook","tool":"send_mail"}]},
         "sheets:read":{"endpoints":[{"url":"https://sheets.example.com","methods":["GET"],"paths":["/v4/*/values/**"]}]}},
 "commandsAllowed":["/usr/bin/convert",{"path":"/usr/bin/git","args":["log","**"]}],
 "requiresApproval":["sheets:write:restricted","write:/home/user/Work/Reports/outgoing/final","network:https://internal-api.corp.example.com/pay","exec:/usr/bin/convert"]}"#;

fn pdp() -> &'static Pdp {
    static PDP: OnceLock<Pdp> = OnceLock::new();
    PDP.get_or_init(|| {
        let m = manifest::parse(MANIFEST, "fuzz.json").expect("fixed manifest parses");
        Pdp::compile(&m, &CompileOptions::default()).expect("fixed manifest compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = Request::from_json(data) {
        let _ = pdp().explain(&req);
        let _ = req.to_rego_input();
    }
});
