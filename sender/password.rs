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

/// Refuses a chosen password that is easy to guess offline: the envelope travels by mail, so
/// anyone who intercepts it can try passwords as fast as the key derivation allows.
pub fn check_strength(password: &Password) -> Result<()> {
    let text = password.expose();
    let length = text.chars().count();
    let mut distinct: Vec<char> = text.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let only_digits = text.chars().all(|c| c.is_ascii_digit());
    if length < 12 || distinct.len() < 6 || only_digits {
        bail!(
            "this password is too easy to guess (it needs at least 12 characters, not only \
             digits, and not one repeated pattern); leave out --password-stdin and \
             --password-prompt to get a generated one"
        );
    }
    Ok(())
}

/// Letters and digits that cannot be mistaken for each other when read aloud or typed from a
/// note: no `0 o`, `1 i l`.
const READABLE: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
const GROUPS: usize = 4;
const GROUP_LEN: usize = 5;

/// A new transfer password: four groups of five readable characters, such as
/// `k7mq2-xw9pd-4hta8-ncez3`: 20 characters of 31 possible, about 99 bits.
pub fn generate() -> Password {
    let mut text = String::with_capacity(GROUPS * (GROUP_LEN + 1));
    let mut byte = [0u8; 1];
    while text.len() < GROUPS * (GROUP_LEN + 1) - 1 {
        if text.len() % (GROUP_LEN + 1) == GROUP_LEN {
            text.push('-');
            continue;
        }
        getrandom::getrandom(&mut byte).expect("the operating system provides random numbers");
        // Rejection sampling keeps every character equally likely.
        let limit = (256 / READABLE.len() * READABLE.len()) as u8;
        if byte[0] < limit {
            text.push(READABLE[byte[0] as usize % READABLE.len()] as char);
        }
    }
    Password::new(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_chosen_passwords_are_refused_and_generated_ones_pass() {
        for weak in [
            "",
            "password",
            "123456789012345",
            "abcabcabcabcabc",
            "Tr0ub4dor&3",
        ] {
            assert!(
                check_strength(&Password::new(weak.into())).is_err(),
                "{weak}"
            );
        }
        assert!(check_strength(&Password::new("plum-ocean-42-violet".into())).is_ok());
        assert!(check_strength(&generate()).is_ok());
    }

    #[test]
    fn generated_passwords_are_readable_groups_with_at_least_80_bits() {
        let password = generate();
        let text = password.expose();
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(groups.len(), GROUPS, "{text}");
        assert!(groups.iter().all(|g| g.len() == GROUP_LEN), "{text}");
        assert!(
            text.bytes().all(|b| b == b'-' || READABLE.contains(&b)),
            "{text}"
        );
        let bits = (GROUPS * GROUP_LEN) as f64 * (READABLE.len() as f64).log2();
        assert!(bits >= 80.0, "{bits} bits");
        assert_ne!(generate(), generate());
    }
}
