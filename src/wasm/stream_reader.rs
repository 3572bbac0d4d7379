//! The reader of a host `ReadableStream` a model answers with. Dropped before the stream
//! ended (an error, an abort, a refused chunk), it cancels the stream, so the provider's
//! request is not left running.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/js/host.js")]
extern "C" {
    #[wasm_bindgen(js_name = cancelReader)]
    fn cancel_reader(reader: &JsValue);
}

pub struct Reader {
    pub reader: JsValue,
    /// Set once the stream ended: nothing is left to cancel.
    pub done: bool,
}

impl Reader {
    pub fn new(reader: JsValue) -> Reader {
        Reader {
            reader,
            done: false,
        }
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if !self.done {
            cancel_reader(&self.reader);
        }
    }
}
