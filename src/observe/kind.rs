//! The names of what happens, shared by the audit log (an entry's `type`) and telemetry (an
//! event's `kind`): one table, so the two records of one happening cannot drift apart. An
//! audit `type` is free text to a reader (hosts may write their own); these names are stable.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    RunStart,
    RunFinish,
    ModelCall,
    ToolCall,
    BudgetRefused,
    BudgetOverrun,
    Forget,
    Export,
    Import,
    Eviction,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::RunStart,
        Kind::RunFinish,
        Kind::ModelCall,
        Kind::ToolCall,
        Kind::BudgetRefused,
        Kind::BudgetOverrun,
        Kind::Forget,
        Kind::Export,
        Kind::Import,
        Kind::Eviction,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Kind::RunStart => "run.start",
            Kind::RunFinish => "run.finish",
            Kind::ModelCall => "model.call",
            Kind::ToolCall => "tool.call",
            Kind::BudgetRefused => "budget.refused",
            Kind::BudgetOverrun => "budget.overrun",
            Kind::Forget => "forget",
            Kind::Export => "export",
            Kind::Import => "import",
            Kind::Eviction => "eviction",
        }
    }

    /// Whether the audit log records it. An eviction is the runtime managing its memory,
    /// not something done for or by a user, so it is telemetry only.
    pub const fn audited(self) -> bool {
        !matches!(self, Kind::Eviction)
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    #[test]
    fn names_are_distinct() {
        let names: std::collections::HashSet<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }
}
