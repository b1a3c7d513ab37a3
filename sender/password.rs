//! Asking for the transfer password: from the terminal (twice, masked) or from one line of
//! standard input. Never from arguments or the environment, where other processes can read it.

use anyhow::{bail, Context, Result};
use certdrop::secret::{read_password_line, Password};

/// The password for a new envelope.
pub fn new_password(from_stdin: bool) -> Result<Password> {
    let password = if from_stdin {
        read_password_line(&mut std::io::stdin().lock()).context("reading standard input")?
    } else {
        let typed = dialoguer::Password::new()
            .with_prompt("Transfer password")
            .with_confirmation("Type it again", "The two passwords differ; try again.")
            .interact()
            .context("reading the password from the terminal (use --password-stdin in scripts)")?;
        Password::new(typed)
    };
    if password.is_empty() {
        bail!("the password is empty; give one with at least 8 characters");
    }
    Ok(password)
}

/// The password of an existing envelope.
pub fn existing_password(from_stdin: bool) -> Result<Password> {
    if from_stdin {
        return read_password_line(&mut std::io::stdin().lock()).context("reading standard input");
    }
    let typed = dialoguer::Password::new()
        .with_prompt("Transfer password")
        .interact()
        .context("reading the password from the terminal (use --password-stdin in scripts)")?;
    Ok(Password::new(typed))
}
