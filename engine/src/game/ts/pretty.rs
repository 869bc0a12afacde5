//! Pretty-printing of ts-rs declarations: ts-rs writes each on one line; here they get one
//! line per field and per union member, short objects without comments staying on one line.

/// A piece of a ts-rs declaration.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// `{ } ( ) , | & ;`
    P(char),
    /// A JSDoc comment's lines.
    Doc(Vec<String>),
    /// Anything else up to white space or punctuation (`seq?:`, `"type":`, `Array<string>`).
    W(String),
}

fn tokens(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if let Some(body) = rest.strip_prefix("/**") {
            let end = body.find("*/").expect("a closed comment");
            let lines = body[..end]
                .lines()
                .map(|l| l.trim().trim_start_matches('*').trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
            out.push(Tok::Doc(lines));
            rest = &body[end + 2..];
        } else if "{}(),|&;".contains(c) {
            out.push(Tok::P(c));
            rest = &rest[1..];
        } else {
            let mut end = 0;
            let mut quoted = false;
            for (i, ch) in rest.char_indices() {
                if ch == '"' {
                    quoted = !quoted;
                } else if !quoted && (ch.is_whitespace() || "{}(),|&;".contains(ch)) {
                    break;
                }
                end = i + ch.len_utf8();
            }
            out.push(Tok::W(rest[..end].to_string()));
            rest = &rest[end..];
        }
    }
    out
}

/// The index of the token closing the bracket opened at `open`.
fn closing(t: &[Tok], open: usize) -> usize {
    let mut depth = 0;
    for (i, x) in t.iter().enumerate().skip(open) {
        match x {
            Tok::P('{' | '(') => depth += 1,
            Tok::P('}' | ')') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced declaration");
}

/// Whether `t[from..to]` has a `|` outside any bracket.
fn union_at(t: &[Tok], from: usize, to: usize) -> bool {
    let mut depth = 0;
    for x in &t[from..to] {
        match x {
            Tok::P('{' | '(') => depth += 1,
            Tok::P('}' | ')') => depth -= 1,
            Tok::P('|') if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// One line per field and per union member (ts-rs writes a declaration on one line). Short
/// objects without comments stay on one line.
pub fn pretty(decl: &str) -> String {
    let t = tokens(decl);
    let eq = t
        .iter()
        .position(|x| *x == Tok::W("=".into()))
        .expect("a type declaration");
    let mut out = String::new();
    for x in &t[..=eq] {
        if let Tok::W(w) = x {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    let end = t.len() - usize::from(t.last() == Some(&Tok::P(';')));
    let body = &t[eq + 1..end];
    let flat_len: usize = body
        .iter()
        .map(|x| match x {
            Tok::W(w) => w.len() + 1,
            _ => 2,
        })
        .sum();
    let nested = body.iter().any(|x| matches!(x, Tok::P('{' | '(')));
    if union_at(&t, eq + 1, end) && (nested || out.len() + flat_len > 96) {
        out.push_str("\n  | ");
        fmt(body, 1, Mode::Union, &mut out);
    } else {
        out.push(' ');
        fmt(body, 0, Mode::Block, &mut out);
    }
    out.push(';');
    out
}

/// How `fmt` lays out separators at its own level.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `,` ends a line.
    Block,
    /// `|` starts a line.
    Union,
    /// Everything on one line.
    Inline,
}

fn indent(out: &mut String, level: usize) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn space(out: &mut String) {
    if !out.ends_with([' ', '\n', '(']) {
        out.push(' ');
    }
}

/// `t` at `level`, its separators laid out by `mode`.
fn fmt(t: &[Tok], level: usize, mode: Mode, out: &mut String) {
    let mut i = 0;
    while i < t.len() {
        match &t[i] {
            Tok::P(open @ ('{' | '(')) => {
                let close = closing(t, i);
                let inner = &t[i + 1..close];
                let flat = inner
                    .iter()
                    .all(|x| !matches!(x, Tok::Doc(_) | Tok::P('{' | '(')));
                let text_len: usize = inner
                    .iter()
                    .map(|x| match x {
                        Tok::W(w) => w.len() + 1,
                        _ => 2,
                    })
                    .sum();
                space(out);
                if *open == '{' && inner.is_empty() {
                    out.push_str("{}");
                } else if *open == '{' && flat && text_len + level * 2 <= 72 {
                    out.push_str("{ ");
                    let n = inner.len() - usize::from(inner.last() == Some(&Tok::P(',')));
                    fmt(&inner[..n], level, Mode::Inline, out);
                    out.push_str(" }");
                } else if *open == '{' {
                    out.push('{');
                    indent(out, level + 1);
                    fmt(inner, level + 1, Mode::Block, out);
                    let n = out.trim_end().len();
                    out.truncate(n);
                    if !out.ends_with(',') && !out.ends_with('{') {
                        out.push(',');
                    }
                    indent(out, level);
                    out.push('}');
                } else if union_at(inner, 0, inner.len()) {
                    out.push('(');
                    indent(out, level + 1);
                    out.push_str("| ");
                    fmt(inner, level + 1, Mode::Union, out);
                    indent(out, level);
                    out.push(')');
                } else {
                    out.push('(');
                    fmt(inner, level, Mode::Inline, out);
                    out.push(')');
                }
                i = close + 1;
                continue;
            }
            Tok::P(',') if mode == Mode::Block => {
                out.push(',');
                if i + 1 < t.len() {
                    indent(out, level);
                }
            }
            Tok::P(',') => out.push_str(", "),
            Tok::P('|') if mode == Mode::Union => {
                indent(out, level);
                out.push_str("| ");
            }
            Tok::P(c @ ('|' | '&')) => {
                space(out);
                out.push(*c);
                out.push(' ');
            }
            Tok::P(c) => out.push(*c),
            Tok::Doc(lines) => {
                if lines.len() == 1 {
                    out.push_str(&format!("/** {} */", lines[0]));
                } else {
                    out.push_str("/**");
                    for l in lines {
                        indent(out, level);
                        out.push_str(" * ");
                        out.push_str(l);
                    }
                    indent(out, level);
                    out.push_str(" */");
                }
                indent(out, level);
            }
            Tok::W(w) => {
                space(out);
                out.push_str(w);
            }
        }
        i += 1;
    }
}
