"""Policy packs: each CoC's rules as versioned data files, validated by pydantic."""
