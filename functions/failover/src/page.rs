//! The static "we'll be right back" site, pure: what index.html and error.html say.

use halfhour::domain::{Millis, format_utc};

/// Short, so visitors see the live site soon after it is back.
pub const CACHE_CONTROL: &str = "public, max-age=60";

/// A marker the verification looks for: the page is halfhour's, for this site.
pub fn marker(site: &str) -> String {
    format!("<meta name=\"halfhour-site\" content=\"{}\">", escape(site))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page shown while the site is down: site name, "we'll be right back", UTC time, reason.
pub fn page(site: &str, reason: &str, now: Millis) -> String {
    let (site_html, reason_html) = (escape(site), escape(reason));
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n{}\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"refresh\" content=\"60\">\n<title>{site_html} — we'll be right back</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}\
         small{{color:#666}}</style>\n</head>\n<body>\n<h1>{site_html}</h1>\n\
         <p><strong>We'll be right back.</strong> The site is being repaired; this page refreshes itself.</p>\n\
         <p><small>Since {} (UTC) · {reason_html}</small></p>\n</body>\n</html>\n",
        marker(site),
        format_utc(now),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_who_what_when_and_why() {
        let html = page(
            "shop.example.com",
            "site health check failing",
            Millis(1_795_787_250_123),
        );
        assert!(html.contains("<h1>shop.example.com</h1>"));
        assert!(html.contains("We'll be right back."));
        assert!(html.contains("2026-11-27T13:47:30Z"));
        assert!(html.contains("site health check failing"));
        assert!(html.contains(&marker("shop.example.com")));
    }

    #[test]
    fn markup_in_names_is_escaped() {
        let html = page("<script>", "a & b", Millis(0));
        assert!(!html.contains("<script>"));
        assert!(html.contains("a &amp; b"));
    }
}
