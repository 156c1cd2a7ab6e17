"""Who is asking: users and their tokens, browser sessions, trigger tokens (stores on the share)."""
