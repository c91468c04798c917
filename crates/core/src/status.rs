//! The five job states, as one-byte codes.

/// A job state; the discriminant is the code used by the columnar store and the `codes` buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum StatusCode {
    PendingCompilation = 0,
    PendingExecution = 1,
    Ready = 2,
    Failed = 3,
    Aborted = 4,
}

impl StatusCode {
    /// Every state, in the order of the Python `Status` enum.
    pub const ALL: [StatusCode; 5] = [
        StatusCode::PendingCompilation,
        StatusCode::PendingExecution,
        StatusCode::Ready,
        StatusCode::Failed,
        StatusCode::Aborted,
    ];

    /// The JSON value, equal to the Python `Status` member's value.
    pub const fn value(self) -> &'static str {
        match self {
            StatusCode::PendingCompilation => "pending compilation",
            StatusCode::PendingExecution => "pending execution",
            StatusCode::Ready => "ready",
            StatusCode::Failed => "failed",
            StatusCode::Aborted => "aborted",
        }
    }

    /// The state whose value is exactly `value`, if any (matching is case- and space-sensitive,
    /// like the reference's `Status(value)`).
    pub fn from_value(value: &[u8]) -> Option<StatusCode> {
        match value {
            b"pending compilation" => Some(StatusCode::PendingCompilation),
            b"pending execution" => Some(StatusCode::PendingExecution),
            b"ready" => Some(StatusCode::Ready),
            b"failed" => Some(StatusCode::Failed),
            b"aborted" => Some(StatusCode::Aborted),
            _ => None,
        }
    }

    /// The state with this code, if the code is one.
    pub fn from_code(code: u8) -> Option<StatusCode> {
        Self::ALL.get(usize::from(code)).copied()
    }

    /// Whether the job can no longer change state.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            StatusCode::Ready | StatusCode::Failed | StatusCode::Aborted
        )
    }
}

/// One value per job state, looked up by its code without a bounds check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerStatus<T>([T; 5]);

impl<T> PerStatus<T> {
    /// The table of what `make` makes of each state, in [`StatusCode::ALL`]'s order; the first
    /// error stops it.
    pub fn try_new<E>(mut make: impl FnMut(StatusCode) -> Result<T, E>) -> Result<Self, E> {
        let [a, b, c, d, e] = StatusCode::ALL;
        Ok(PerStatus([
            make(a)?,
            make(b)?,
            make(c)?,
            make(d)?,
            make(e)?,
        ]))
    }

    pub fn get(&self, status: StatusCode) -> &T {
        let [pending_compilation, pending_execution, ready, failed, aborted] = &self.0;
        match status {
            StatusCode::PendingCompilation => pending_compilation,
            StatusCode::PendingExecution => pending_execution,
            StatusCode::Ready => ready,
            StatusCode::Failed => failed,
            StatusCode::Aborted => aborted,
        }
    }

    /// Each state with its value, in [`StatusCode::ALL`]'s order.
    pub fn iter(&self) -> impl Iterator<Item = (StatusCode, &T)> {
        StatusCode::ALL.into_iter().zip(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_per_status_table_finds_each_state_where_it_was_made() {
        let table = PerStatus::try_new(|status| Ok::<_, ()>(status.value())).unwrap();
        for status in StatusCode::ALL {
            assert_eq!(*table.get(status), status.value());
        }
        let order: Vec<_> = table.iter().map(|(status, _)| status).collect();
        assert_eq!(order, StatusCode::ALL);
        assert_eq!(
            PerStatus::try_new(|status| if status == StatusCode::Ready {
                Err(status)
            } else {
                Ok(())
            }),
            Err(StatusCode::Ready)
        );
    }

    #[test]
    fn values_round_trip() {
        for (code, status) in StatusCode::ALL.iter().enumerate() {
            assert_eq!(
                StatusCode::from_value(status.value().as_bytes()),
                Some(*status)
            );
            assert_eq!(StatusCode::from_code(code as u8), Some(*status));
            assert_eq!(*status as u8 as usize, code);
        }
    }

    #[test]
    fn matching_is_exact() {
        for bad in [
            &b"Ready"[..],
            b"ready ",
            b" ready",
            b"",
            b"pending",
            b"READY",
        ] {
            assert_eq!(StatusCode::from_value(bad), None);
        }
        assert_eq!(StatusCode::from_code(5), None);
    }

    #[test]
    fn terminal_states() {
        let terminal: Vec<_> = StatusCode::ALL.iter().filter(|s| s.is_terminal()).collect();
        assert_eq!(
            terminal,
            [
                &StatusCode::Ready,
                &StatusCode::Failed,
                &StatusCode::Aborted
            ]
        );
    }
}
