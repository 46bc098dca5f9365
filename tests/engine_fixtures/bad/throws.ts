// Fixture: an experiment file that throws on import.
throw new Error("boom at import");
