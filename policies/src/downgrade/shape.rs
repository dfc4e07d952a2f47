//! The shape of a message: structural facts read in one pass over its bytes, without the lexicon.
//!
//! Owns [`Shape`]: size, code-looking lines, code fences, numbers, math symbols, numbered
//! requirements, and where the *instruction* sits in a long paste (its first and last short
//! paragraphs), so that cue words inside the pasted material do not count as the task. It never
//! weighs anything; [`assess`](super::assess) does.

/// Structural facts about the last user message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// Length in bytes.
    pub bytes: usize,
    /// Lines that look like code (braces, semicolons, indentation, `def`/`fn`/`return`, `=>`).
    pub code_lines: u16,
    /// Markdown code fences (```).
    pub fences: u16,
    /// Distinct numbers (digit runs; `3:45`, `1,850` and `6.8` count once).
    pub numbers: u16,
    /// Math symbols: `^`, `=`, `∫`, `√`, `∑`, `≤`, `≥`, `²` outside code.
    pub math_symbols: u16,
    /// Lines that start a numbered requirement (`1.`, `2)`).
    pub numbered: u16,
    /// Byte range of the leading instruction paragraph (empty if the first line is long).
    pub head: (usize, usize),
    /// Byte range of the trailing instruction line (empty if the last line is long).
    pub tail: (usize, usize),
}

/// Longest first or last line that still reads as an instruction rather than pasted material.
const INSTRUCTION_MAX: usize = 320;

impl Shape {
    /// Reads the shape of `text` in one pass (plus two short scans for the instruction lines).
    pub fn of(text: &str) -> Self {
        let bytes = text.as_bytes();
        let mut shape = Self { bytes: bytes.len(), ..Self::default() };
        let mut in_number = false;
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with("```") {
                shape.fences = shape.fences.saturating_add(1);
            } else if looks_like_code(line, trimmed) {
                shape.code_lines = shape.code_lines.saturating_add(1);
            }
            if numbered(trimmed) {
                shape.numbered = shape.numbered.saturating_add(1);
            }
        }
        for (i, &b) in bytes.iter().enumerate() {
            if b.is_ascii_digit() {
                if !in_number {
                    shape.numbers = shape.numbers.saturating_add(1);
                }
                in_number = true;
            } else {
                let joins = matches!(b, b'.' | b',' | b':') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                in_number = in_number && joins;
            }
            let prev = i.checked_sub(1).and_then(|j| bytes.get(j)).copied().unwrap_or(b' ');
            let next = bytes.get(i + 1).copied().unwrap_or(b' ');
            let equation = b == b'='
                && !matches!(prev, b'=' | b'!' | b'<' | b'>' | b':')
                && !matches!(next, b'=' | b'"' | b'\'' | b'>');
            if b == b'^' || equation {
                shape.math_symbols = shape.math_symbols.saturating_add(1);
            }
        }
        for c in ['∫', '√', '∑', '≤', '≥', '²', '³', 'π'] {
            let n = text.matches(c).count();
            shape.math_symbols = shape.math_symbols.saturating_add(u16::try_from(n).unwrap_or(u16::MAX));
        }
        shape.head = head(text);
        shape.tail = tail(text);
        shape
    }

    /// Whether the message carries code: a fence, or at least three code-looking lines.
    pub fn has_code(&self) -> bool {
        self.fences >= 2 || self.code_lines >= 3
    }

    /// Whether `at` (a byte offset) lies in the leading or trailing instruction paragraph.
    pub fn in_instruction(&self, at: usize) -> bool {
        (self.head.0..self.head.1).contains(&at) || (self.tail.0..self.tail.1).contains(&at)
    }
}

fn looks_like_code(line: &str, trimmed: &str) -> bool {
    if trimmed.is_empty() {
        return false;
    }
    let indented = line.starts_with("    ") || line.starts_with('\t');
    let ends = trimmed.ends_with('{')
        || trimmed.ends_with('}')
        || trimmed.ends_with(';')
        || trimmed.ends_with("):")
        || trimmed.ends_with(')');
    let starts = [
        "def ", "fn ", "func ", "return ", "import ", "class ", "pub ", "let ", "const ", "for ", "if ", "while ",
        "#include", "SELECT ", "FROM ", "WHERE ", "JOIN ",
    ]
    .iter()
    .any(|k| trimmed.starts_with(k));
    let markup = trimmed.starts_with('<') && trimmed.ends_with('>');
    (indented && (ends || starts || trimmed.contains(" = "))) || (starts && ends) || markup || trimmed.contains("=>")
}

fn numbered(trimmed: &str) -> bool {
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    (1..=2).contains(&digits)
        && matches!(trimmed.as_bytes().get(digits), Some(b'.' | b')'))
        && trimmed.as_bytes().get(digits + 1) == Some(&b' ')
}

/// The first paragraph (up to a blank line, or the first line if that is all there is), if short.
fn head(text: &str) -> (usize, usize) {
    let start = text.len() - text.trim_start().len();
    let rest = &text[start..];
    let end = rest.find("\n\n").or_else(|| rest.find('\n')).unwrap_or(rest.len());
    if end <= INSTRUCTION_MAX {
        (start, start + end)
    } else {
        (start, start)
    }
}

/// The last line, if short.
fn tail(text: &str) -> (usize, usize) {
    let end = text.trim_end().len();
    let body = &text[..end];
    let start = body.rfind('\n').map_or(0, |i| i + 1);
    if end - start <= INSTRUCTION_MAX {
        (start, end)
    } else {
        (end, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_instruction_around_a_paste() {
        let text = format!("Review this:\n\n{}\n\nWhat is wrong?", "word ".repeat(200));
        let s = Shape::of(&text);
        assert_eq!(&text[s.head.0..s.head.1], "Review this:");
        assert_eq!(&text[s.tail.0..s.tail.1], "What is wrong?");
        let one_line = "x".repeat(1000);
        let s = Shape::of(&one_line);
        assert_eq!(s.head.0, s.head.1);
        assert_eq!(s.tail.0, s.tail.1);
    }

    #[test]
    fn counts_numbers_code_and_math() {
        let s = Shape::of("Refinance from 6.8% to 5.9% with $4,000 at 3:45 in 3 years");
        assert_eq!(s.numbers, 5);
        let s = Shape::of("```python\ndef f(x):\n    return x\n```");
        assert!(s.has_code());
        assert!(Shape::of("x^4 - 5x^2 + 4 = 0").math_symbols >= 3);
        assert_eq!(Shape::of("1. one\n2) two\n2024 is a year").numbered, 2);
    }
}
