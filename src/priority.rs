//! Thread priority for background computation: calibration threads run at a higher nice value,
//! so when recalibrations and the live stream want the same cores, the stream wins.

/// The nice value calibration threads run at (0 is normal, 19 the lowest priority).
pub const CALIBRATION_NICE: i32 = 10;

/// Lowers the calling thread's priority to [`CALIBRATION_NICE`]. Linux keeps the nice value
/// per thread, so only this thread is affected; where that fails the thread runs at normal
/// priority, which is correct, only less kind to the stream.
pub fn lower_this_thread() {
    if let Err(error) = rustix::process::setpriority_process(None, CALIBRATION_NICE) {
        tracing::debug!(%error, "Could not lower the calibration thread's priority.");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_calling_thread_is_lowered() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let inside = std::thread::spawn(|| {
            lower_this_thread();
            rustix::process::getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        if before <= CALIBRATION_NICE {
            assert_eq!(inside, CALIBRATION_NICE);
        }
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
    }
}
