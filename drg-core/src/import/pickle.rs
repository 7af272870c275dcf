//! A small, non-executing reader of Python pickles (protocols 2 to 5).
//!
//! PyTorch stores the structure of a checkpoint (which tensor has which name, shape and storage)
//! as a pickle. The one well-kept Rust pickle crate, `serde-pickle`, maps pickles onto serde data
//! and has no notion of persistent ids or of calls to arbitrary globals, which is exactly what
//! torch's pickles are made of. So drg-rs reads them with this small virtual machine instead.
//!
//! It never runs anything: a global (`GLOBAL`, `STACK_GLOBAL`) becomes [`Value::Global`], a call
//! (`REDUCE`, `NEWOBJ`) becomes a [`Value::Call`] that records the callable and its arguments, and
//! a persistent id (`BINPERSID`) becomes [`Value::PersistentId`]. The caller (`pth.rs`) decides
//! what those mean. Items added to a call's result with `SETITEM(S)`/`APPEND(S)` (how an
//! `OrderedDict` is pickled) and the state passed to `BUILD` are kept on the call.
//!
//! The memo holds copies, not shared references: a memoised container that is mutated after
//! `PUT` and fetched again later would be seen in its state at `PUT` time. Torch only re-fetches
//! immutable things (globals, strings, storage ids), so this keeps the reader simple.

use std::collections::HashMap;

/// A Python value as far as a non-executing reader can know it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer wider than 64 bits, as little-endian two's-complement bytes (torch's legacy
    /// magic number is one).
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// A dict's items in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A reference to `module.name`, unresolved.
    Global {
        module: String,
        name: String,
    },
    /// `callable(*args)`, not evaluated, with the items and the `BUILD` state added afterwards.
    Call {
        callable: Box<Value>,
        args: Vec<Value>,
        items: Vec<(Value, Value)>,
        appended: Vec<Value>,
        state: Option<Box<Value>>,
    },
    /// The object that `persistent_load(id)` would return.
    PersistentId(Box<Value>),
}

impl Value {
    /// `module.name` if this is a global.
    pub fn global_name(&self) -> Option<String> {
        match self {
            Value::Global { module, name } => Some(format!("{module}.{name}")),
            _ => None,
        }
    }

    /// A short description for error messages (`int 3`, `str 'cpu'`, `call torch.Size(...)`).
    pub fn describe(&self) -> String {
        match self {
            Value::None => "None".into(),
            Value::Bool(b) => format!("bool {b}"),
            Value::Int(i) => format!("int {i}"),
            Value::BigInt(b) => format!("int of {} bytes", b.len()),
            Value::Float(f) => format!("float {f}"),
            Value::Str(s) => format!("str '{s}'"),
            Value::Bytes(b) => format!("bytes of length {}", b.len()),
            Value::Tuple(v) => format!("tuple of {}", v.len()),
            Value::List(v) => format!("list of {}", v.len()),
            Value::Dict(v) => format!("dict of {}", v.len()),
            Value::Global { module, name } => format!("global {module}.{name}"),
            Value::Call { callable, .. } => format!("call of {}", callable.global_name().unwrap_or_else(|| callable.describe())),
            Value::PersistentId(_) => "persistent id".into(),
        }
    }
}

/// Why a pickle could not be read; `pos` is the byte offset of the offending opcode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("pickle byte {pos}: {msg}")]
pub struct PickleError {
    pub pos: usize,
    pub msg: String,
}

/// One entry of the VM's stack: a value or a `MARK`.
#[derive(Debug)]
enum Slot {
    Mark,
    Value(Value),
}

/// Parses a pickle and returns the value that `STOP` returns; bytes after `STOP` are ignored.
pub fn parse(data: &[u8]) -> Result<Value, PickleError> {
    parse_prefix(data).map(|(value, _)| value)
}

/// Parses the pickle at the start of `data` and returns its value and its length in bytes, for
/// streams of several pickles (torch's legacy format).
pub fn parse_prefix(data: &[u8]) -> Result<(Value, usize), PickleError> {
    Machine { data, pos: 0, op_pos: 0, stack: Vec::new(), memo: HashMap::new() }.run()
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    stack: Vec<Slot>,
    memo: HashMap<u32, Value>,
}

impl<'a> Machine<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError { pos: self.op_pos, msg: msg.into() })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        if self.data.len() - self.pos < n {
            return self.err("truncated pickle");
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(n) = rest.iter().position(|&b| b == b'\n') else { return self.err("truncated pickle: text argument without its newline") };
        let s = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.pos += n + 1;
        Ok(s)
    }

    fn utf8(&self, bytes: &[u8]) -> Result<String, PickleError> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_string()),
            Err(_) => self.err("string is not valid UTF-8"),
        }
    }

    fn push(&mut self, v: Value) {
        self.stack.push(Slot::Value(v));
    }

    fn pop(&mut self) -> Result<Value, PickleError> {
        match self.stack.pop() {
            Some(Slot::Value(v)) => Ok(v),
            Some(Slot::Mark) => self.err("unexpected MARK on the stack"),
            None => self.err("stack underflow"),
        }
    }

    fn top_mut(&mut self) -> Result<&mut Value, PickleError> {
        match self.stack.last_mut() {
            Some(Slot::Value(v)) => Ok(v),
            _ => Err(PickleError { pos: self.op_pos, msg: "no object on the stack".into() }),
        }
    }

    /// Pops everything above the topmost MARK, and the MARK.
    fn pop_to_mark(&mut self) -> Result<Vec<Value>, PickleError> {
        let Some(m) = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)) else { return self.err("no MARK on the stack") };
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .map(|s| match s {
                Slot::Value(v) => v,
                Slot::Mark => unreachable!("rposition found the topmost mark"),
            })
            .collect())
    }

    fn memo_get(&self, key: u32) -> Result<Value, PickleError> {
        match self.memo.get(&key) {
            Some(v) => Ok(v.clone()),
            None => self.err(format!("memo key {key} was never stored")),
        }
    }

    fn memo_put(&mut self, key: u32) -> Result<(), PickleError> {
        let v = match self.stack.last() {
            Some(Slot::Value(v)) => v.clone(),
            _ => return self.err("nothing to memoise"),
        };
        self.memo.insert(key, v);
        Ok(())
    }

    fn set_items(&mut self, pairs: Vec<Value>) -> Result<(), PickleError> {
        if !pairs.len().is_multiple_of(2) {
            return self.err("SETITEMS with an odd number of values");
        }
        let mut it = pairs.into_iter();
        let mut kv = Vec::new();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            kv.push((k, v));
        }
        match self.top_mut()? {
            Value::Dict(items) | Value::Call { items, .. } => {
                items.extend(kv);
                Ok(())
            }
            other => {
                let d = other.describe();
                self.err(format!("SETITEM on a {d}"))
            }
        }
    }

    fn append(&mut self, values: Vec<Value>) -> Result<(), PickleError> {
        match self.top_mut()? {
            Value::List(items) | Value::Call { appended: items, .. } => {
                items.extend(values);
                Ok(())
            }
            other => {
                let d = other.describe();
                self.err(format!("APPEND on a {d}"))
            }
        }
    }

    fn call(&mut self, callable: Value, args: Value) -> Result<(), PickleError> {
        let args = match args {
            Value::Tuple(a) => a,
            other => return self.err(format!("call arguments are a {}, not a tuple", other.describe())),
        };
        self.push(Value::Call { callable: Box::new(callable), args, items: Vec::new(), appended: Vec::new(), state: None });
        Ok(())
    }

    fn run(mut self) -> Result<(Value, usize), PickleError> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if !(2..=5).contains(&proto) {
                        return self.err(format!("pickle protocol {proto} is not supported (2 to 5 are)"));
                    }
                }
                0x95 => {
                    self.u64()?; // FRAME: a length hint only
                }
                b'.' => return Ok((self.pop()?, self.pos)),
                b'(' => self.stack.push(Slot::Mark),
                b'0' => {
                    self.stack.pop();
                }
                b'1' => {
                    self.pop_to_mark()?;
                }
                b'2' => {
                    let v = self.pop()?;
                    self.push(v.clone());
                    self.push(v);
                }
                b'N' => self.push(Value::None),
                0x88 => self.push(Value::Bool(true)),
                0x89 => self.push(Value::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(Value::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(Value::Int(v as i64));
                }
                b'M' => {
                    let v = self.u16()?;
                    self.push(Value::Int(v as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a { self.u8()? as usize } else { self.u32()? as usize };
                    let bytes = self.take(n)?;
                    if n > 8 {
                        self.push(Value::BigInt(bytes.to_vec()));
                    } else {
                        let mut buf = if bytes.last().is_some_and(|&b| b & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
                        buf[..n].copy_from_slice(bytes);
                        self.push(Value::Int(i64::from_le_bytes(buf)));
                    }
                }
                b'G' => {
                    let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                    self.push(Value::Float(v));
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.take(n)?;
                    let s = self.utf8(s)?;
                    self.push(Value::Str(s));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.take(n)?;
                    let s = self.utf8(s)?;
                    self.push(Value::Str(s));
                }
                0x8d => {
                    let n = self.u64()? as usize;
                    let s = self.take(n)?;
                    let s = self.utf8(s)?;
                    self.push(Value::Str(s));
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    let s = self.take(n)?;
                    self.push(Value::Bytes(s.to_vec()));
                }
                b'T' | b'B' => {
                    let n = self.u32()? as usize;
                    let s = self.take(n)?;
                    self.push(Value::Bytes(s.to_vec()));
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let s = self.take(n)?;
                    self.push(Value::Bytes(s.to_vec()));
                }
                b')' => self.push(Value::Tuple(Vec::new())),
                0x85 => {
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a]));
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a, b]));
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push(Value::Tuple(vec![a, b, c]));
                }
                b't' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::Tuple(items));
                }
                b']' => self.push(Value::List(Vec::new())),
                b'l' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::List(items));
                }
                b'}' => self.push(Value::Dict(Vec::new())),
                b'd' => {
                    let items = self.pop_to_mark()?;
                    self.push(Value::Dict(Vec::new()));
                    self.set_items(items)?;
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_to_mark()?;
                    self.append(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_to_mark()?;
                    self.set_items(items)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.push(Value::Global { module, name });
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(module), Value::Str(name)) => self.push(Value::Global { module, name }),
                        _ => return self.err("STACK_GLOBAL needs two strings"),
                    }
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.call(callable, args)?;
                }
                0x81 => {
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.call(cls, args)?;
                }
                0x92 => {
                    let _kwargs = self.pop()?;
                    let args = self.pop()?;
                    let cls = self.pop()?;
                    self.call(cls, args)?;
                }
                b'b' => {
                    let state = self.pop()?;
                    match self.top_mut()? {
                        Value::Call { state: s, .. } => *s = Some(Box::new(state)),
                        // Attributes on a plain container (e.g. a dict's `__dict__`) carry no data we read.
                        Value::Dict(_) | Value::List(_) => {}
                        other => {
                            let d = other.describe();
                            return self.err(format!("BUILD on a {d}"));
                        }
                    }
                }
                b'Q' => {
                    let id = self.pop()?;
                    self.push(Value::PersistentId(Box::new(id)));
                }
                b'P' => {
                    let id = self.line()?;
                    self.push(Value::PersistentId(Box::new(Value::Str(id))));
                }
                b'q' => {
                    let k = self.u8()? as u32;
                    self.memo_put(k)?;
                }
                b'r' => {
                    let k = self.u32()?;
                    self.memo_put(k)?;
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    self.memo_put(k)?;
                }
                b'h' => {
                    let k = self.u8()? as u32;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                b'j' => {
                    let k = self.u32()?;
                    let v = self.memo_get(k)?;
                    self.push(v);
                }
                other => {
                    let shown = if other.is_ascii_graphic() { format!(" '{}'", other as char) } else { String::new() };
                    return self.err(format!("unsupported pickle opcode 0x{other:02x}{shown}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pickle.dumps(collections.OrderedDict([('a', (1, -2, 3.5, 'x', None, True))]), protocol=2)`
    /// as written by CPython 3.11.
    const ORDERED_DICT_P2: &[u8] = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01X\x01\x00\x00\x00aq\x02(K\x01J\xfe\xff\xff\xffG@\x0c\x00\x00\x00\x00\x00\x00X\x01\x00\x00\x00xq\x03N\x88tq\x04s.";

    #[test]
    fn reads_an_ordered_dict_of_python_scalars() {
        let v = parse(ORDERED_DICT_P2).unwrap();
        let Value::Call { callable, args, items, .. } = v else { panic!("{v:?}") };
        assert_eq!(callable.global_name().as_deref(), Some("collections.OrderedDict"));
        assert!(args.is_empty());
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].0, Value::Str("a".into()));
        assert_eq!(
            items[0].1,
            Value::Tuple(vec![Value::Int(1), Value::Int(-2), Value::Float(3.5), Value::Str("x".into()), Value::None, Value::Bool(true)])
        );
    }

    /// `pickle.dumps(collections.OrderedDict([('w', [1.5, 300, 70000])]), protocol=4)`: FRAME,
    /// SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, BININT2, APPENDS.
    const ORDERED_DICT_P4: &[u8] = b"\x80\x04\x95<\x00\x00\x00\x00\x00\x00\x00\x8c\x0bcollections\x94\x8c\x0bOrderedDict\x94\x93\x94)R\x94\x8c\x01w\x94]\x94(G?\xf8\x00\x00\x00\x00\x00\x00M,\x01Jp\x11\x01\x00es.";

    #[test]
    fn reads_protocol_4_framing_and_stack_globals() {
        let Value::Call { callable, items, .. } = parse(ORDERED_DICT_P4).unwrap() else { panic!() };
        assert_eq!(callable.global_name().as_deref(), Some("collections.OrderedDict"));
        assert_eq!(items, vec![(Value::Str("w".into()), Value::List(vec![Value::Float(1.5), Value::Int(300), Value::Int(70000)]))]);
    }

    #[test]
    fn memo_get_returns_the_stored_value_and_long1_is_signed() {
        // PROTO 2, LONG1 -2 (0xfe), BINPUT 0, POP, BINGET 0, BINGET 0, TUPLE2, STOP
        let v = parse(b"\x80\x02\x8a\x01\xfeq\x000h\x00h\x00\x86.").unwrap();
        assert_eq!(v, Value::Tuple(vec![Value::Int(-2), Value::Int(-2)]));
    }

    #[test]
    fn bad_pickles_are_clear_errors() {
        let e = parse(b"\x80\x02\xff.").unwrap_err();
        assert_eq!(e.pos, 2);
        assert!(e.to_string().contains("unsupported pickle opcode 0xff"), "{e}");
        let e = parse(b"\x80\x02X\x10\x00\x00\x00ab").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        let e = parse(b"\x80\x02h\x05.").unwrap_err();
        assert!(e.to_string().contains("memo key 5"), "{e}");
        let e = parse(b"\x80\x02.").unwrap_err();
        assert!(e.to_string().contains("stack underflow"), "{e}");
    }
}
