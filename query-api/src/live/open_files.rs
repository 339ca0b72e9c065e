//! Every SSE connection holds a file descriptor for as long as it is open, and the usual soft
//! limit (1024) would refuse connections long before thousands of viewers: at start the soft
//! limit is raised to the hard limit, which the administrator controls.

/// The soft and hard limits of open files after raising.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    pub soft: u64,
    pub hard: u64,
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and says where both stand.
pub fn raise_to_hard_limit() -> std::io::Result<OpenFiles> {
    let soft = rlimit::increase_nofile_limit(u64::MAX)?;
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE)?;
    Ok(OpenFiles { soft, hard })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_limit() {
        let limits = raise_to_hard_limit().unwrap();
        assert_eq!(limits.soft, limits.hard);
        assert_eq!(
            rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap(),
            (limits.soft, limits.hard)
        );
    }
}
