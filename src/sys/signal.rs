//! Sending a signal to a process (the dashboard's `k`): a plain `kill(2)`
//! through rustix, never a shell. The kernel decides who may signal whom (your
//! own processes, any process as root); its refusal comes back as the error.

use std::io;

/// The signals the dashboard offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
    Int,
    Hup,
    Stop,
    Cont,
}

impl Sig {
    /// In the order the dashboard's menu lists them.
    pub const ALL: [Sig; 6] = [
        Sig::Term,
        Sig::Kill,
        Sig::Int,
        Sig::Hup,
        Sig::Stop,
        Sig::Cont,
    ];

    /// The name without `SIG` (`TERM`).
    pub fn name(self) -> &'static str {
        match self {
            Sig::Term => "TERM",
            Sig::Kill => "KILL",
            Sig::Int => "INT",
            Sig::Hup => "HUP",
            Sig::Stop => "STOP",
            Sig::Cont => "CONT",
        }
    }

    /// What it asks of the process, for the menu.
    pub fn meaning(self) -> &'static str {
        match self {
            Sig::Term => "ask it to terminate (it may clean up)",
            Sig::Kill => "kill it at once (cannot be caught)",
            Sig::Int => "interrupt, as Ctrl-C",
            Sig::Hup => "hang up (many daemons reload)",
            Sig::Stop => "stop (freeze) it until CONT",
            Sig::Cont => "continue a stopped process",
        }
    }

    fn raw(self) -> rustix::process::Signal {
        use rustix::process::Signal;
        match self {
            Sig::Term => Signal::TERM,
            Sig::Kill => Signal::KILL,
            Sig::Int => Signal::INT,
            Sig::Hup => Signal::HUP,
            Sig::Stop => Signal::STOP,
            Sig::Cont => Signal::CONT,
        }
    }
}

/// Send `sig` to `pid`. PID 0 (which would mean the whole process group) is
/// refused here, not sent.
pub fn send_signal(pid: u32, sig: Sig) -> io::Result<()> {
    let raw = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw);
    let Some(target) = raw else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{pid} is not a process id that can be signalled"),
        ));
    };
    rustix::process::kill_process(target, sig.raw()).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_pid_zero_and_signals_a_child() {
        assert!(send_signal(0, Sig::Term).is_err());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        send_signal(child.id(), Sig::Kill).expect("kill our own child");
        let status = child.wait().expect("wait");
        assert!(!status.success());
    }
}
