//! seeds/000's `echomsg` in its three shapes (owned, borrowed strings, zero-allocation
//! views) and the sample every measurement uses: shared by `examples/phases.rs` and
//! `benches/codec.rs` (included with `#[path]`; not an example of its own).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use svrkit_codec::{ArrayRef, MapRef};

/// seeds/000's `echomsg`, owned (what generated code declares by default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Echomsg {
    pub(crate) my_string: String,
    pub(crate) vec_int: Vec<i64>,
    pub(crate) dict_string: BTreeMap<i64, String>,
}

/// The same proto borrowing its strings from the buffer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EchomsgRef<'a> {
    pub(crate) my_string: &'a str,
    pub(crate) vec_int: Vec<i64>,
    #[serde(borrow)]
    pub(crate) dict_string: BTreeMap<i64, &'a str>,
}

/// The same proto with nothing allocated: containers stay undecoded in the buffer until
/// read (`ArrayRef`, `MapRef`), strings borrow.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct EchomsgView<'a> {
    #[serde(borrow)]
    pub(crate) my_string: &'a str,
    #[serde(borrow)]
    pub(crate) vec_int: ArrayRef<'a, i64>,
    #[serde(borrow)]
    pub(crate) dict_string: MapRef<'a, i64, &'a str>,
}

/// The message every measurement echoes (the same as svrkit-bench's).
pub(crate) fn sample() -> Echomsg {
    Echomsg {
        my_string: "svrkit echo payload: 64 bytes of text to echo back and forth....".into(),
        vec_int: vec![1, -2, 300, -40_000, 5_000_000, -600_000_000, 7_000_000_000, i64::MIN],
        dict_string: (1..=4).map(|k| (k, format!("value {k}"))).collect(),
    }
}
