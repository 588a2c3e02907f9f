//! Paths: lexical normalisation of request paths, and the path grants of a manifest.
//!
//! Every decision about a path is made on its lexically normalised absolute form: `//` and `/./`
//! collapse, `..` removes the component before it (never climbing above `/`), and a trailing `/`
//! is dropped. Nothing here touches the file system, so a symlink is *not* resolved: the kernel
//! sandbox is what holds when a granted directory contains a link that leads out of it.
//!
//! Paths are compared byte for byte. There is no Unicode folding: a look-alike character is a
//! different path, and since grants are what allow, a spelling that differs from a grant can
//! only ever fail to match it.

use std::fmt;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Why a request path cannot be decided on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is empty.
    #[error("path is empty")]
    Empty,
    /// The path does not start with `/`.
    #[error("path `{0}` is not absolute")]
    Relative(String),
    /// The path holds a NUL byte, which no kernel path can.
    #[error("path contains a NUL byte")]
    Nul,
}

/// Normalise an absolute path lexically (see the module docs).
///
/// ```
/// use cordon_policy::path::normalize;
/// assert_eq!(normalize("/home/u/Work//Reports/./../.ssh/").unwrap(), "/home/u/Work/.ssh");
/// assert_eq!(normalize("/../../etc").unwrap(), "/etc");
/// ```
pub fn normalize(path: &str) -> Result<String, PathError> {
    if path.is_empty() {
        return Err(PathError::Empty);
    }
    if path.contains('\0') {
        return Err(PathError::Nul);
    }
    if !path.starts_with('/') {
        return Err(PathError::Relative(path.to_owned()));
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Ok("/".to_owned());
    }
    let mut out = String::with_capacity(path.len());
    for part in parts {
        out.push('/');
        out.push_str(part);
    }
    Ok(out)
}

/// Values substituted into manifest paths: `~` and `${HOME}` become `home`, `${USER}` becomes
/// `user`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expansion {
    /// The user the manifest is applied for.
    pub user: String,
    /// That user's home directory (absolute).
    pub home: String,
}

impl Expansion {
    /// A stand-in used to validate manifests before the user is known.
    pub fn placeholder() -> Self {
        Self {
            user: "user".to_owned(),
            home: "/home/user".to_owned(),
        }
    }
}

/// Why a path in a manifest is not a valid grant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantPathError {
    /// The path is empty.
    #[error("path is empty")]
    Empty,
    /// A NUL byte.
    #[error("path contains a NUL byte")]
    Nul,
    /// Not absolute after expansion.
    #[error("path `{0}` is not absolute")]
    Relative(String),
    /// A `..` component.
    #[error("path `{0}` contains `..`")]
    DotDot(String),
    /// `~user` or a `~` not followed by `/`.
    #[error("`~` must stand alone or be followed by `/` in `{0}`")]
    Tilde(String),
    /// `${X}` other than `${HOME}` and `${USER}`, or an unclosed `${`.
    #[error("unknown variable `{var}` in `{path}`")]
    Variable {
        /// The variable as written.
        var: String,
        /// The path as written.
        path: String,
    },
    /// A glob character other than `*`, `**` and `?`.
    #[error("`{ch}` is not supported in path `{path}`")]
    GlobSyntax {
        /// The offending character.
        ch: char,
        /// The path as written.
        path: String,
    },
    /// `**` not forming a whole path component.
    #[error("`**` must be a whole path component in `{0}`")]
    DoubleStar(String),
    /// The expanded home directory is not absolute.
    #[error("home directory `{0}` is not absolute")]
    Home(String),
}

impl GrantPathError {
    /// A short line on how to fix the path.
    pub fn help(&self) -> &'static str {
        match self {
            Self::Empty | Self::Relative(_) => {
                "write an absolute path, or start it with `~/` or `${HOME}/`"
            }
            Self::Nul => "remove the NUL byte",
            Self::DotDot(_) => "write the path without `..`: grants name what they cover directly",
            Self::Tilde(_) => "use `~/…` for the user's home; other users' homes need a full path",
            Self::Variable { .. } => "only `${HOME}` and `${USER}` are expanded",
            Self::GlobSyntax { .. } => {
                "only `*` (within a component), `**` (any depth) and `?` are glob characters"
            }
            Self::DoubleStar(_) => "write `/**/` or end the path with `/**`",
            Self::Home(_) => "the home directory must be an absolute path",
        }
    }
}

/// Expand `~`, `${HOME}` and `${USER}` in a manifest path, then check and normalise it.
pub fn expand(raw: &str, ctx: &Expansion) -> Result<String, GrantPathError> {
    if raw.is_empty() {
        return Err(GrantPathError::Empty);
    }
    if raw.contains('\0') {
        return Err(GrantPathError::Nul);
    }
    if !ctx.home.starts_with('/') {
        return Err(GrantPathError::Home(ctx.home.clone()));
    }
    let mut out = String::with_capacity(raw.len() + ctx.home.len());
    let mut rest = raw;
    if let Some(after) = raw.strip_prefix('~') {
        if !(after.is_empty() || after.starts_with('/')) {
            return Err(GrantPathError::Tilde(raw.to_owned()));
        }
        out.push_str(&ctx.home);
        rest = after;
    }
    while let Some(at) = rest.find("${") {
        let (before, var_on) = rest.split_at(at);
        out.push_str(before);
        let Some(end) = var_on.find('}') else {
            return Err(GrantPathError::Variable {
                var: var_on.to_owned(),
                path: raw.to_owned(),
            });
        };
        let (var, after) = var_on.split_at(end + 1);
        match var {
            "${HOME}" => out.push_str(&ctx.home),
            "${USER}" => out.push_str(&ctx.user),
            other => {
                return Err(GrantPathError::Variable {
                    var: other.to_owned(),
                    path: raw.to_owned(),
                });
            }
        }
        rest = after;
    }
    out.push_str(rest);
    if !out.starts_with('/') {
        return Err(GrantPathError::Relative(raw.to_owned()));
    }
    if out.split('/').any(|c| c == "..") {
        return Err(GrantPathError::DotDot(raw.to_owned()));
    }
    if let Some(ch) = out
        .chars()
        .find(|c| matches!(c, '[' | ']' | '{' | '}' | '\\'))
    {
        return Err(GrantPathError::GlobSyntax {
            ch,
            path: raw.to_owned(),
        });
    }
    if out.split('/').any(|c| c.contains("**") && c != "**") {
        return Err(GrantPathError::DoubleStar(raw.to_owned()));
    }
    let trimmed = out.split('/').filter(|c| !c.is_empty() && *c != ".").fold(
        String::with_capacity(out.len()),
        |mut acc, c| {
            acc.push('/');
            acc.push_str(c);
            acc
        },
    );
    Ok(if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed
    })
}

/// Whether a (normalised) grant path holds glob characters.
pub fn is_glob(path: &str) -> bool {
    path.contains(['*', '?'])
}

/// Whether `prefix` (normalised, no glob) covers `path` (normalised): equal, or an ancestor at a
/// component boundary.
pub fn prefix_covers(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return true;
    }
    match path.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => rest.starts_with('/'),
        None => false,
    }
}

/// A set of path grants compiled for matching: plain paths cover their subtree, globs cover
/// what they match and the subtrees below it.
#[derive(Debug, Clone, Default)]
pub struct PathSet {
    prefixes: Vec<(String, usize)>,
    globs: Option<GlobSet>,
    glob_ids: Vec<usize>,
}

/// A glob the matcher could not compile.
#[derive(Debug, Clone, thiserror::Error)]
#[error("glob `{pattern}` cannot be compiled: {reason}")]
pub struct GlobError {
    /// The glob.
    pub pattern: String,
    /// What the glob compiler said.
    pub reason: String,
}

impl PathSet {
    /// Compile normalised grant paths; the index of each is reported back by [`PathSet::find`].
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Result<Self, GlobError> {
        let mut prefixes = Vec::new();
        let mut builder = GlobSetBuilder::new();
        let mut glob_ids = Vec::new();
        for (index, path) in paths.into_iter().enumerate() {
            if !is_glob(path) {
                prefixes.push((path.to_owned(), index));
                continue;
            }
            let subtree = format!("{}/**", path.trim_end_matches('/'));
            for pattern in [path, subtree.as_str()] {
                let glob = GlobBuilder::new(pattern)
                    .literal_separator(true)
                    .backslash_escape(false)
                    .build()
                    .map_err(|e| GlobError {
                        pattern: path.to_owned(),
                        reason: e.kind().to_string(),
                    })?;
                builder.add(glob);
                glob_ids.push(index);
            }
        }
        let globs = if glob_ids.is_empty() {
            None
        } else {
            Some(builder.build().map_err(|e| GlobError {
                pattern: String::new(),
                reason: e.to_string(),
            })?)
        };
        Ok(Self {
            prefixes,
            globs,
            glob_ids,
        })
    }

    /// The index of a grant covering the normalised `path`, preferring plain paths.
    pub fn find(&self, path: &str) -> Option<usize> {
        if let Some((_, index)) = self.prefixes.iter().find(|(p, _)| prefix_covers(p, path)) {
            return Some(*index);
        }
        let globs = self.globs.as_ref()?;
        let hit = globs.matches(path).into_iter().next()?;
        self.glob_ids.get(hit).copied()
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty() && self.glob_ids.is_empty()
    }
}

/// A path as written in a manifest together with its expansion, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantPath {
    /// As written.
    pub raw: String,
    /// Expanded and normalised.
    pub expanded: String,
}

impl fmt::Display for GrantPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.raw == self.expanded {
            write!(f, "`{}`", self.raw)
        } else {
            write!(f, "`{}` (`{}`)", self.raw, self.expanded)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_spellings() {
        for (raw, want) in [
            ("/", "/"),
            ("//", "/"),
            ("/a/b/", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a//b", "/a/b"),
            ("/a/b/../c", "/a/c"),
            ("/../a", "/a"),
            ("/a/b/../../..", "/"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Ok(want), "{raw}");
        }
        assert_eq!(normalize(""), Err(PathError::Empty));
        assert_eq!(normalize("a/b"), Err(PathError::Relative("a/b".into())));
        assert_eq!(normalize("/a\0b"), Err(PathError::Nul));
    }

    #[test]
    fn expands_home_and_user() {
        let ctx = Expansion {
            user: "alice".into(),
            home: "/home/alice".into(),
        };
        assert_eq!(expand("~", &ctx).as_deref(), Ok("/home/alice"));
        assert_eq!(expand("~/Work/", &ctx).as_deref(), Ok("/home/alice/Work"));
        assert_eq!(
            expand("${HOME}/x/${USER}", &ctx).as_deref(),
            Ok("/home/alice/x/alice")
        );
        assert!(matches!(
            expand("~bob/x", &ctx),
            Err(GrantPathError::Tilde(_))
        ));
        assert!(matches!(
            expand("${PATH}/x", &ctx),
            Err(GrantPathError::Variable { .. })
        ));
        assert!(matches!(
            expand("${HOME", &ctx),
            Err(GrantPathError::Variable { .. })
        ));
        assert!(matches!(
            expand("rel/x", &ctx),
            Err(GrantPathError::Relative(_))
        ));
        assert!(matches!(
            expand("/a/../b", &ctx),
            Err(GrantPathError::DotDot(_))
        ));
        assert!(matches!(
            expand("/a/[ab]", &ctx),
            Err(GrantPathError::GlobSyntax { .. })
        ));
        assert!(matches!(
            expand("/a/x**", &ctx),
            Err(GrantPathError::DoubleStar(_))
        ));
    }

    #[test]
    fn prefixes_respect_component_boundaries() {
        assert!(prefix_covers("/home/u/Reports", "/home/u/Reports"));
        assert!(prefix_covers("/home/u/Reports", "/home/u/Reports/q3.xlsx"));
        assert!(!prefix_covers("/home/u/Reports", "/home/u/ReportsX"));
        assert!(!prefix_covers("/home/u/Reports", "/home/u/Report"));
        assert!(prefix_covers("/", "/etc/passwd"));
    }

    #[test]
    fn globs_cover_matches_and_their_subtrees() {
        let set = PathSet::new(["/srv/a", "/home/*/Work", "/data/**/public"]).unwrap();
        assert_eq!(set.find("/srv/a/x"), Some(0));
        assert_eq!(set.find("/home/bob/Work"), Some(1));
        assert_eq!(set.find("/home/bob/Work/q.txt"), Some(1));
        assert_eq!(set.find("/home/bob/x/Work"), None);
        assert_eq!(set.find("/data/x/y/public/f"), Some(2));
        assert_eq!(set.find("/data/x/private"), None);
    }
}
