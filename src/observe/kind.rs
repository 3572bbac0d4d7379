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
    AuditSinkError,
    MemoryCompact,
    MemoryEmbed,
    MemoryExtract,
    McpList,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
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
        Kind::AuditSinkError,
        Kind::MemoryCompact,
        Kind::MemoryEmbed,
        Kind::MemoryExtract,
        Kind::McpList,
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
            Kind::AuditSinkError => "audit.sink-error",
            Kind::MemoryCompact => "memory.compact",
            Kind::MemoryEmbed => "memory.embed",
            Kind::MemoryExtract => "memory.extract",
            Kind::McpList => "mcp.list",
        }
    }

    /// Whether the audit log records it. An eviction is the runtime managing its memory,
    /// and a failing audit sink cannot be recorded in the log it failed to write: both
    /// are telemetry only.
    pub const fn audited(self) -> bool {
        !matches!(self, Kind::Eviction | Kind::AuditSinkError)
    }
}

#[cfg(test)]
mod tests {
    use super::Kind;

    /// The package's types name every kind: an audit entry's `type` union lists the audited
    /// ones, the telemetry doc all of them.
    #[test]
    fn the_typescript_types_name_every_kind() {
        let dts = include_str!("../../pkg-template/index.d.ts");
        let union = dts
            .lines()
            .find(|l| l.trim_start().starts_with("type: \"run.start\""))
            .expect("AuditEntry's type union");
        for k in Kind::ALL {
            let quoted = format!("\"{}\"", k.name());
            assert_eq!(
                union.contains(&quoted),
                k.audited(),
                "{} in AuditEntry.type",
                k.name()
            );
            assert!(
                dts.contains(&format!("`{}`", k.name())),
                "{} in the telemetry doc",
                k.name()
            );
        }
    }

    #[test]
    fn names_are_distinct() {
        let names: std::collections::HashSet<_> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }
}
