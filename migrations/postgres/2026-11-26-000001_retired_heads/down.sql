DROP TABLE retired_heads;
