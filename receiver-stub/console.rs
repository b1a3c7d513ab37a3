//! The console window of a double-clicked program: its title, and keeping it open at the end
//! so that the recipient can read the last message.

use std::io::{BufRead, Write};

/// Sets the console window's title.
pub fn set_title(title: &str) {
    #[cfg(windows)]
    windows::set_title(title);
    #[cfg(not(windows))]
    {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            eprint!("\x1b]0;{title}\x07");
        }
    }
}

/// Whether this program is the only one attached to its console: it was double-clicked, and
/// the window closes as soon as it exits.
pub fn owns_window() -> bool {
    #[cfg(windows)]
    return windows::owns_console();
    // Only Windows opens a window of its own for a double-clicked console program; elsewhere
    // the program runs in the terminal that started it, which stays open.
    #[cfg(not(windows))]
    false
}

/// Waits for Enter.
pub fn wait_for_enter(prompt: &str) {
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

#[cfg(windows)]
#[allow(unsafe_code)]
mod windows {
    use windows_sys::Win32::System::Console::{GetConsoleProcessList, SetConsoleTitleW};

    pub fn set_title(title: &str) {
        let wide: Vec<u16> = title.encode_utf16().chain(Some(0)).collect();
        // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call.
        unsafe {
            SetConsoleTitleW(wide.as_ptr());
        }
    }

    /// A console shared with a shell lists at least two processes; one the program got by
    /// being double-clicked lists only itself.
    pub fn owns_console() -> bool {
        let mut processes = [0u32; 2];
        // SAFETY: the buffer holds `processes.len()` process ids, as the call is told.
        let count = unsafe { GetConsoleProcessList(processes.as_mut_ptr(), 2) };
        count == 1
    }
}
