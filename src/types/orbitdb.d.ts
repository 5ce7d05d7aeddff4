// @orbitdb/core 4 ships JavaScript without type declarations. Until the
// replication room wraps it behind typed interfaces, its exports are untyped.
declare module '@orbitdb/core'
