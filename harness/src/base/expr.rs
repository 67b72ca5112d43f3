//! A small expression language for conditions: `--fail-if 'p99_ms > 500'` and scenario rules
//! such as `pool_max >= threads * (cm - 1) + 1 && teardown == "shared"`.
//!
//! Numbers, strings (`"..."` or `'...'`), booleans (`true`, `false`) and names; arithmetic
//! `+ - * / %`, comparisons `< <= > >= == !=`, logic `! && ||` (also `not and or`), and
//! parentheses. Precedence, loosest first: `||`, `&&`, `!`, comparisons, `+ -`, `* / %`,
//! unary `-`. Names are checked against the known ones before anything runs.

use std::fmt;

/// A value an expression works on.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Bool(bool),
    Str(String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Num(n) => write!(f, "{n}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

/// Why an expression could not be parsed or evaluated. `column` counts from 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ExprError {
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum BinOp {
    Or,
    And,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Lit(Value),
    Name(String, usize),
    Not(Box<Node>),
    Neg(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>, usize),
}

/// A parsed expression and the text it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
}

const OPERATORS: &[&str] = &[
    "<=", ">=", "==", "!=", "&&", "||", "<", ">", "+", "-", "*", "/", "%", "!",
];

fn tokenize(src: &str) -> Result<Vec<(Token, usize)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_digit() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let n = text.parse().map_err(|_| ExprError {
                column,
                message: format!("bad number `{text}`"),
            })?;
            tokens.push((Token::Num(n), column));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let token = match word.as_str() {
                "and" => Token::Op("&&"),
                "or" => Token::Op("||"),
                "not" => Token::Op("!"),
                _ => Token::Ident(word),
            };
            tokens.push((token, column));
        } else if c == '"' || c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|x| *x == c)
                .ok_or_else(|| ExprError {
                    column,
                    message: "unterminated string".to_owned(),
                })?;
            tokens.push((
                Token::Str(chars[i + 1..i + 1 + end].iter().collect()),
                column,
            ));
            i += end + 2;
        } else if c == '(' || c == ')' {
            tokens.push((
                if c == '(' {
                    Token::LParen
                } else {
                    Token::RParen
                },
                column,
            ));
            i += 1;
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let op = OPERATORS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| ExprError {
                    column,
                    message: format!("unexpected `{c}`"),
                })?;
            tokens.push((Token::Op(op), column));
            i += op.len();
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    end_column: usize,
}

impl Parser {
    fn peek_op(&self) -> Option<&'static str> {
        match self.tokens.get(self.pos) {
            Some((Token::Op(op), _)) => Some(op),
            _ => None,
        }
    }

    fn column(&self) -> usize {
        self.tokens
            .get(self.pos)
            .map_or(self.end_column, |(_, c)| *c)
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError {
            column: self.column(),
            message: message.into(),
        }
    }

    /// Parses a left-associative level whose operators map to `ops`.
    fn binary(
        &mut self,
        ops: &[(&str, BinOp)],
        next: fn(&mut Self) -> Result<Node, ExprError>,
    ) -> Result<Node, ExprError> {
        let mut left = next(self)?;
        while let Some(&(_, op)) = self
            .peek_op()
            .and_then(|t| ops.iter().find(|(s, _)| *s == t))
        {
            let column = self.column();
            self.pos += 1;
            let right = next(self)?;
            left = Node::Bin(op, Box::new(left), Box::new(right), column);
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        self.binary(&[("||", BinOp::Or)], Self::and)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        self.binary(&[("&&", BinOp::And)], Self::not)
    }

    fn not(&mut self) -> Result<Node, ExprError> {
        if self.peek_op() == Some("!") {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Node, ExprError> {
        let ops = [
            ("<=", BinOp::Le),
            (">=", BinOp::Ge),
            ("==", BinOp::Eq),
            ("!=", BinOp::Ne),
            ("<", BinOp::Lt),
            (">", BinOp::Gt),
        ];
        let left = self.sum()?;
        if let Some(&(_, op)) = self
            .peek_op()
            .and_then(|t| ops.iter().find(|(s, _)| *s == t))
        {
            let column = self.column();
            self.pos += 1;
            let right = self.sum()?;
            if self
                .peek_op()
                .is_some_and(|t| ops.iter().any(|(s, _)| *s == t))
            {
                return Err(self.error("comparisons do not chain; join them with &&"));
            }
            return Ok(Node::Bin(op, Box::new(left), Box::new(right), column));
        }
        Ok(left)
    }

    fn sum(&mut self) -> Result<Node, ExprError> {
        self.binary(&[("+", BinOp::Add), ("-", BinOp::Sub)], Self::term)
    }

    fn term(&mut self) -> Result<Node, ExprError> {
        self.binary(
            &[("*", BinOp::Mul), ("/", BinOp::Div), ("%", BinOp::Rem)],
            Self::unary,
        )
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        if self.peek_op() == Some("-") {
            self.pos += 1;
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Node, ExprError> {
        let Some((token, column)) = self.tokens.get(self.pos).cloned() else {
            return Err(self.error("expression ends too early"));
        };
        self.pos += 1;
        match token {
            Token::Num(n) => Ok(Node::Lit(Value::Num(n))),
            Token::Str(s) => Ok(Node::Lit(Value::Str(s))),
            Token::Ident(word) if word == "true" => Ok(Node::Lit(Value::Bool(true))),
            Token::Ident(word) if word == "false" => Ok(Node::Lit(Value::Bool(false))),
            Token::Ident(word) => Ok(Node::Name(word, column)),
            Token::LParen => {
                let inner = self.or()?;
                match self.tokens.get(self.pos) {
                    Some((Token::RParen, _)) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err(self.error("missing `)`")),
                }
            }
            Token::RParen => Err(ExprError {
                column,
                message: "unexpected `)`".to_owned(),
            }),
            Token::Op(op) => Err(ExprError {
                column,
                message: format!("unexpected `{op}`"),
            }),
        }
    }
}

impl Expr {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Self, ExprError> {
        let tokens = tokenize(source)?;
        if tokens.is_empty() {
            return Err(ExprError {
                column: 1,
                message: "empty expression".to_owned(),
            });
        }
        let mut parser = Parser {
            tokens,
            pos: 0,
            end_column: source.chars().count() + 1,
        };
        let root = parser.or()?;
        if parser.pos < parser.tokens.len() {
            return Err(parser.error("unexpected text after the expression"));
        }
        Ok(Self {
            source: source.to_owned(),
            root,
        })
    }

    /// The text it was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every name used, with its column.
    pub fn names(&self) -> Vec<(&str, usize)> {
        fn walk<'a>(node: &'a Node, out: &mut Vec<(&'a str, usize)>) {
            match node {
                Node::Lit(_) => {}
                Node::Name(name, column) => out.push((name, *column)),
                Node::Not(inner) | Node::Neg(inner) => walk(inner, out),
                Node::Bin(_, left, right, _) => {
                    walk(left, out);
                    walk(right, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }

    /// Fails on the first name not in `known`, listing the known ones.
    pub fn check_names(&self, known: &[&str]) -> Result<(), ExprError> {
        match self
            .names()
            .into_iter()
            .find(|(name, _)| !known.contains(name))
        {
            Some((name, column)) => Err(ExprError {
                column,
                message: format!("unknown name `{name}`; known: {}", known.join(", ")),
            }),
            None => Ok(()),
        }
    }

    /// Evaluates with `lookup` giving each name's value.
    pub fn eval(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Value, ExprError> {
        eval(&self.root, lookup)
    }

    /// Evaluates to a boolean (numbers are true when not zero).
    pub fn holds(&self, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<bool, ExprError> {
        match self.eval(lookup)? {
            Value::Bool(b) => Ok(b),
            Value::Num(n) => Ok(n != 0.0),
            Value::Str(s) => Err(ExprError {
                column: 1,
                message: format!("\"{s}\" is a string, not a condition"),
            }),
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn eval(node: &Node, lookup: &dyn Fn(&str) -> Option<Value>) -> Result<Value, ExprError> {
    let err = |column, message: String| ExprError { column, message };
    match node {
        Node::Lit(v) => Ok(v.clone()),
        Node::Name(name, column) => {
            lookup(name).ok_or_else(|| err(*column, format!("unknown name `{name}`")))
        }
        Node::Not(inner) => match eval(inner, lookup)? {
            Value::Bool(b) => Ok(Value::Bool(!b)),
            other => Err(err(1, format!("`!` needs a condition, got {other}"))),
        },
        Node::Neg(inner) => match eval(inner, lookup)? {
            Value::Num(n) => Ok(Value::Num(-n)),
            other => Err(err(1, format!("`-` needs a number, got {other}"))),
        },
        Node::Bin(op, left, right, column) => {
            let l = eval(left, lookup)?;
            if matches!(op, BinOp::And | BinOp::Or) {
                let Value::Bool(lb) = l else {
                    return Err(err(*column, format!("`&&`/`||` need conditions, got {l}")));
                };
                if (*op == BinOp::And && !lb) || (*op == BinOp::Or && lb) {
                    return Ok(Value::Bool(lb));
                }
                return match eval(right, lookup)? {
                    Value::Bool(rb) => Ok(Value::Bool(rb)),
                    other => Err(err(
                        *column,
                        format!("`&&`/`||` need conditions, got {other}"),
                    )),
                };
            }
            let r = eval(right, lookup)?;
            match (op, &l, &r) {
                (BinOp::Eq, _, _) => Ok(Value::Bool(l == r)),
                (BinOp::Ne, _, _) => Ok(Value::Bool(l != r)),
                (_, Value::Num(a), Value::Num(b)) => Ok(match op {
                    BinOp::Lt => Value::Bool(a < b),
                    BinOp::Le => Value::Bool(a <= b),
                    BinOp::Gt => Value::Bool(a > b),
                    BinOp::Ge => Value::Bool(a >= b),
                    BinOp::Add => Value::Num(a + b),
                    BinOp::Sub => Value::Num(a - b),
                    BinOp::Mul => Value::Num(a * b),
                    BinOp::Div => Value::Num(a / b),
                    BinOp::Rem => Value::Num(a % b),
                    BinOp::Eq | BinOp::Ne | BinOp::And | BinOp::Or => unreachable!("handled above"),
                }),
                _ => Err(err(*column, format!("cannot apply {op:?} to {l} and {r}"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_with(src: &str, vars: &[(&str, Value)]) -> Result<Value, ExprError> {
        let lookup = |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        };
        Expr::parse(src)?.eval(&lookup)
    }

    fn num(n: f64) -> Value {
        Value::Num(n)
    }

    #[test]
    fn arithmetic_binds_tighter_than_comparison_and_logic() {
        let vars = [
            ("pool_max", num(17.0)),
            ("threads", num(16.0)),
            ("cm", num(2.0)),
        ];
        assert_eq!(
            eval_with("pool_max >= threads * (cm - 1) + 1", &vars),
            Ok(Value::Bool(true))
        );
        assert_eq!(eval_with("2 + 3 * 4", &[]), Ok(num(14.0)));
        assert_eq!(eval_with("(2 + 3) * 4", &[]), Ok(num(20.0)));
        assert_eq!(
            eval_with("10 - 4 - 3", &[]),
            Ok(num(3.0)),
            "left associative"
        );
        assert_eq!(eval_with("-2 * -3", &[]), Ok(num(6.0)));
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        assert_eq!(
            eval_with("true || false && false", &[]),
            Ok(Value::Bool(true))
        );
        assert_eq!(eval_with("!false && false", &[]), Ok(Value::Bool(false)));
        assert_eq!(eval_with("not 1 > 2 and 3 > 2", &[]), Ok(Value::Bool(true)));
    }

    #[test]
    fn strings_compare_for_equality() {
        let vars = [("teardown", Value::Str("shared".into()))];
        assert_eq!(
            eval_with("teardown == \"shared\"", &vars),
            Ok(Value::Bool(true))
        );
        assert_eq!(
            eval_with("teardown != 'shared'", &vars),
            Ok(Value::Bool(false))
        );
        assert!(eval_with("teardown < 3", &vars).is_err());
    }

    #[test]
    fn unknown_names_are_rejected_with_their_column() {
        let e = Expr::parse("p99_ms > 5 && latncy > 3").unwrap();
        let err = e.check_names(&["p99_ms", "latency"]).unwrap_err();
        assert_eq!(err.column, 15);
        assert!(err.message.contains("unknown name `latncy`"));
        assert!(err.message.contains("known: p99_ms, latency"));
    }

    #[test]
    fn malformed_text_is_reported_where_it_goes_wrong() {
        assert_eq!(Expr::parse("1 +").unwrap_err().column, 4);
        assert_eq!(Expr::parse("(1 + 2").unwrap_err().message, "missing `)`");
        assert_eq!(Expr::parse("a $ b").unwrap_err().column, 3);
        assert!(
            Expr::parse("1 < 2 < 3")
                .unwrap_err()
                .message
                .contains("do not chain")
        );
        assert!(Expr::parse("").is_err());
    }

    #[test]
    fn short_circuit_skips_the_other_side() {
        assert_eq!(
            eval_with("false && missing > 1", &[]),
            Ok(Value::Bool(false))
        );
        assert!(eval_with("true && missing > 1", &[]).is_err());
    }
}
