//! A section of `docs/benchmarks.md` that one command owns, between its own markers:
//! written in place of its old self (or at the page's end), and found again so that
//! `cargo xtask bench` keeps it when it rewrites the rest of the page.

use crate::run::workspace_root;
use std::fs;

/// A marked section: its markers and its name in messages.
pub struct Section {
    /// The line that opens it.
    pub begin: &'static str,
    /// The line that closes it.
    pub end: &'static str,
    /// Its heading, as messages name it.
    pub name: &'static str,
}

impl Section {
    /// Writes `text` (markers included) into the page.
    pub fn write(&self, text: &str) -> Result<(), String> {
        let path = workspace_root().join("docs").join("benchmarks.md");
        let page = fs::read_to_string(&path).unwrap_or_default();
        fs::write(&path, self.splice(&page, text))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        eprintln!(
            "xtask: wrote the {} section of {}",
            self.name,
            path.display()
        );
        Ok(())
    }

    /// `page` with `text` in place of this section, or after the page's end.
    fn splice(&self, page: &str, text: &str) -> String {
        let (before, after) = match (page.find(self.begin), page.find(self.end)) {
            (Some(begin), Some(end)) if begin < end => {
                (&page[..begin], &page[end + self.end.len()..])
            }
            _ => (page, ""),
        };
        let mut spliced = before.trim_end().to_owned();
        if !spliced.is_empty() {
            spliced.push_str("\n\n");
        }
        spliced.push_str(text.trim_end());
        spliced.push('\n');
        let after = after.trim_start_matches('\n');
        if !after.is_empty() {
            spliced.push('\n');
            spliced.push_str(after);
        }
        spliced
    }

    /// This section of `page`, markers included, if it has one.
    pub fn existing<'p>(&self, page: &'p str) -> Option<&'p str> {
        let begin = page.find(self.begin)?;
        let end = page[begin..].find(self.end)? + begin + self.end.len();
        Some(&page[begin..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: Section = Section {
        begin: "<!-- queue:begin -->",
        end: "<!-- queue:end -->",
        name: "Queue",
    };

    #[test]
    fn the_section_replaces_its_old_self_and_nothing_else() {
        let section = |body: &str| format!("{}\n## Queue\n{body}\n{}\n", QUEUE.begin, QUEUE.end);
        let page = "# Benchmarks\n\npairs tables\n";
        let once = QUEUE.splice(page, &section("first"));
        assert_eq!(once, format!("{page}\n{}", section("first")));
        let with_tail = format!("{once}\n## Later\n");
        let twice = QUEUE.splice(&with_tail, &section("second"));
        assert_eq!(twice, format!("{page}\n{}\n## Later\n", section("second")));
        assert_eq!(QUEUE.existing(&twice), Some(section("second").trim_end()));
        assert_eq!(QUEUE.existing(page), None);
    }
}
