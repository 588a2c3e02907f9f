package agent.policy_test

import data.agent.policy

test_plain_write_allowed {
  policy.allow with input as {"action": "write", "path": "/home/user/Work/Reports/outgoing/a.pdf", "scopes": []}
}

test_sensitive_write_needs_scope {
  not policy.allow with input as {"action": "write", "path": "/sensitive/payroll.csv", "scopes": []}
}

test_sensitive_write_with_scope {
  policy.allow with input as {"action": "write", "path": "/sensitive/payroll.csv", "scopes": ["sensitive-write"]}
}
