package agent.policy

# Deny writes to sensitive directories unless the scope includes 'sensitive-write'
default allow = false

allow {
  input.action == "write"
  not startswith(input.path, "/sensitive")
}

allow {
  input.action == "write"
  startswith(input.path, "/sensitive")
  input.scopes[_] == "sensitive-write"
}
