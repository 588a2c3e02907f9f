//! Role templates (SPEC M-5).
