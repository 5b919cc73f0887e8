//! A committed change of an order item, as the orders table's stream carries it: what
//! the stream adapter decodes and the publish use case acts on.

use super::order::Order;

/// What happened to the item, as the stream names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Insert,
    Modify,
    Remove,
}

/// One committed change of an order item, decoded from a stream record.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderChange {
    /// The stream record's sequence number: what a partial batch failure names.
    pub sequence_number: String,
    pub kind: ChangeKind,
    pub old: Option<Order>,
    pub new: Option<Order>,
}
