//! Cancellation as the core sees it: a leaf, so models, tools and HTTP clients can take a
//! host's signal without depending on the agent that passes it along.

use futures_util::future::LocalBoxFuture;
use std::any::Any;

/// A host's cancellation source (an AbortSignal in JS).
pub trait Cancellation {
    fn is_cancelled(&self) -> bool;
    /// Resolves when cancelled. Dropped (and must clean up) when the run ends first.
    fn cancelled(&self) -> LocalBoxFuture<'static, ()>;
    /// Lets a host model adapter recover its native signal to pass on (e.g. to fetch).
    fn as_any(&self) -> &dyn Any;
}
