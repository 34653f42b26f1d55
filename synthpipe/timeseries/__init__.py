"""Time series: long tables of sequences (entity, time, values, static context), an autoregressive GRU
conditioned on each entity's context, and a sequence quality gate.

Sequences travel between stages as long Parquet tables sorted by entity and time; inside a stage they are
windows of encoded steps, one tensor (windows x steps x features).
"""
