//! The web page, embedded in the binary so the daemon is one file.

pub fn get(name: &str) -> Option<(&'static str, &'static [u8])> {
    match name {
        "index.html" => Some(("text/html; charset=utf-8", include_bytes!("../../www/index.html"))),
        "login.html" => Some(("text/html; charset=utf-8", include_bytes!("../../www/login.html"))),
        "app.js" => Some(("text/javascript; charset=utf-8", include_bytes!("../../www/app.js"))),
        "style.css" => Some(("text/css; charset=utf-8", include_bytes!("../../www/style.css"))),
        "favicon.svg" => Some(("image/svg+xml", include_bytes!("../../www/favicon.svg"))),
        _ => None,
    }
}
