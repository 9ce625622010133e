//! Bounded channels between the core and a bridge session whose slots are one
//! pointer wide, and which cost little while idle.
//!
//! A gateway keeps a few channels per user (core to session, session to
//! core, and the bridge's own), so an idle channel's size counts. tokio's
//! mpsc was about 900 bytes each: its state is padded to cache lines (two
//! 128-byte fields, in a 128-aligned allocation) and it allocates its slots
//! 32 at a time as soon as the first item is sent. flume's (already in the
//! build, for sqlx's SQLite driver) is one small allocation of about 150
//! bytes, with a queue that grows only as items wait. Items travel boxed, so
//! a slot is a pointer whatever the item's size; the box is one small
//! allocation per item, which large events (messages) needed anyway.

/// The sending half; cheap to clone.
#[derive(Debug)]
pub struct Sender<T>(flume::Sender<Box<T>>);

/// The receiving half.
#[derive(Debug)]
pub struct Receiver<T>(flume::Receiver<Box<T>>);

/// The receiver is gone; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> std::fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the channel's receiver is gone")
    }
}

impl<T: std::fmt::Debug> std::error::Error for SendError<T> {}

/// Why [`Sender::try_send`] did not send; the item comes back.
#[derive(Debug, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// `bound` items are waiting: the receiver is behind.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

impl<T> TrySendError<T> {
    /// The item that was not sent.
    pub fn into_inner(self) -> T {
        match self {
            Self::Full(item) | Self::Closed(item) => item,
        }
    }
}

impl<T> std::fmt::Display for TrySendError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "the channel is full",
            Self::Closed(_) => "the channel's receiver is gone",
        })
    }
}

impl<T: std::fmt::Debug> std::error::Error for TrySendError<T> {}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// A bounded channel: a sender waits while `bound` items are waiting.
///
/// # Panics
/// If `bound` is 0 (a channel holds at least one item).
pub fn channel<T>(bound: usize) -> (Sender<T>, Receiver<T>) {
    assert!(bound > 0, "a channel holds at least one item");
    let (tx, rx) = flume::bounded(bound);
    (Sender(tx), Receiver(rx))
}

impl<T> Sender<T> {
    /// Sends an item, waiting for room; fails only when the receiver is gone.
    ///
    /// The item is boxed before the future is made, so that the future (and
    /// every `async fn` that awaits it, each session's task among them)
    /// holds a pointer, not the item: an `async fn` keeps its arguments for
    /// its whole life.
    pub fn send(
        &self,
        item: T,
    ) -> impl std::future::Future<Output = Result<(), SendError<T>>> + Send + '_
    where
        T: Send,
    {
        let item = Box::new(item);
        async move {
            self.0
                .send_async(item)
                .await
                .map_err(|flume::SendError(item)| SendError(*item))
        }
    }

    /// Sends an item if there is room now; never waits.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        self.0.try_send(Box::new(item)).map_err(|e| match e {
            flume::TrySendError::Full(item) => TrySendError::Full(*item),
            flume::TrySendError::Disconnected(item) => TrySendError::Closed(*item),
        })
    }

    /// How many items are waiting for the receiver.
    pub fn waiting(&self) -> usize {
        self.0.len()
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.0.is_disconnected()
    }
}

impl<T> Receiver<T> {
    /// The next item; `None` once every sender is gone and nothing waits.
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv_async().await.ok().map(|item| *item)
    }

    /// `first`, then the items waiting as each is asked for, `max` in all
    /// at most: a burst taken in one turn of a loop, instead of one wait
    /// per item. What is left stays in the channel.
    pub fn burst(&mut self, first: T, max: usize) -> Burst<'_, T> {
        Burst {
            receiver: self,
            first: Some(first),
            left: max,
        }
    }
}

/// The items of [`Receiver::burst`].
pub struct Burst<'a, T> {
    receiver: &'a mut Receiver<T>,
    first: Option<T>,
    left: usize,
}

impl<T> Iterator for Burst<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match self.first.take() {
            Some(first) => Some(first),
            None => self.receiver.0.try_recv().ok().map(|item| *item),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_and_come_back_when_the_receiver_is_gone() {
        let (tx, mut rx) = channel::<String>(2);
        tx.send("one".into()).await.unwrap();
        tx.clone().send("two".into()).await.unwrap();
        assert_eq!(rx.recv().await.as_deref(), Some("one"));
        assert_eq!(rx.recv().await.as_deref(), Some("two"));
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(
            tx.send("three".into()).await,
            Err(SendError("three".to_owned()))
        );
    }

    #[tokio::test]
    async fn a_burst_takes_what_waits_up_to_its_size_and_leaves_the_rest() {
        let (tx, mut rx) = channel::<u32>(8);
        for n in 2..=5 {
            tx.send(n).await.unwrap();
        }
        assert_eq!(rx.burst(1, 3).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(rx.burst(0, 10).collect::<Vec<_>>(), [0, 4, 5]);
        assert_eq!(rx.burst(9, 1).collect::<Vec<_>>(), [9]);
    }

    #[tokio::test]
    async fn try_send_refuses_when_full_and_hands_the_item_back() {
        let (tx, mut rx) = channel::<u32>(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.waiting(), 2);
        assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(tx.waiting(), 1);
        assert_eq!(tx.try_send(3), Ok(()));
        drop(rx);
        assert_eq!(tx.try_send(4), Err(TrySendError::Closed(4)));
    }

    #[tokio::test]
    async fn a_full_channel_makes_the_sender_wait() {
        let (tx, mut rx) = channel::<u32>(1);
        tx.send(1).await.unwrap();
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), tx.send(2));
        assert!(waiting.await.is_err(), "the second send should wait");
        assert_eq!(rx.recv().await, Some(1));
    }
}
