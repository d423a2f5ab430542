//! halfhour's generated maintenance page, and whether visitors get a page, pure. The page is
//! the fallback when the operator put none in the bucket. It says who and that the site will be
//! back, never why (the reason goes to the decision record and the notification, not to the
//! public).

/// Whether visitors of the static site get the page: its status (200 from a website, 503 from
/// CloudFront's error responses) and a body.
pub fn serves_the_page(answer: &halfhour::ports::WebAnswer, mode: crate::StaticSiteMode) -> bool {
    answer.status == mode.page_status() && !answer.body.trim().is_empty()
}

/// Short, so visitors see the live site soon after it is back.
pub const CACHE_CONTROL: &str = "public, max-age=60";

/// A marker in halfhour's own page: the page is halfhour's, for this site.
pub fn marker(site: &str) -> String {
    format!("<meta name=\"halfhour-site\" content=\"{}\">", escape(site))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page shown while the site is down: the site's name and "we'll be right back".
pub fn page(site: &str) -> String {
    let site_html = escape(site);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n{}\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n\
         <meta http-equiv=\"refresh\" content=\"60\">\n<title>{site_html} — we'll be right back</title>\n\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}}</style>\n\
         </head>\n<body>\n<h1>{site_html}</h1>\n\
         <p><strong>We'll be right back.</strong> The site is being repaired; this page refreshes itself.</p>\n\
         </body>\n</html>\n",
        marker(site),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_says_who_and_that_it_will_be_back_never_why() {
        let html = page("shop.example.com");
        assert!(html.contains("<h1>shop.example.com</h1>"));
        assert!(html.contains("We'll be right back."));
        assert!(html.contains(&marker("shop.example.com")));
        assert!(
            html.contains("noindex"),
            "search engines do not index the outage"
        );
        assert!(!html.contains("health check"));
    }

    #[test]
    fn markup_in_names_is_escaped() {
        let html = page("<script>");
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;"));
    }
}
