#!/bin/bash
# Captures what the recipient sees in a terminal: the demo's receiver, one wrong password, then the right one.
# The captures in docs/recipient-guide.*.md come from this, after `cargo build --release`:
#   docs/capture-recipient-screen.sh en_US.UTF-8 en.txt; docs/capture-recipient-screen.sh ja_JP.UTF-8 ja.txt
# Needs tmux.
set -u
bin=${CERTDROP_BIN:-target/release/certdrop}
s=cap$$
tmux new-session -d -s $s -x 92 -y 60 "env LANG=$1 $bin demo --size-mib 64; echo EXIT=\$?; sleep 600"
pw=""
for i in $(seq 1 240); do
  screen=$(tmux capture-pane -p -t $s)
  pw=$(sed -n 's/.*the password to pass on by another channel: //p' <<<"$screen" | tr -d ' ')
  if [ -n "$pw" ] && grep -q "now the recipient" <<<"$screen"; then break; fi
  sleep 0.5
done
sleep 2
tmux send-keys -t $s "wrong-guess-1234" Enter
sleep 5
tmux send-keys -t $s "$pw" Enter
for i in $(seq 1 240); do
  tmux capture-pane -p -t $s | grep -q "EXIT=" && break
  sleep 0.5
done
tmux capture-pane -p -t $s > "$2"
tmux kill-session -t $s
