# bench/sim peer: R deSolve, lsoda with the compiled right-hand side
# bench/sim/idr.c (built by run.sh with R CMD SHLIB), doses as deSolve
# events (add 100 mg to the depot at 0, 24, ..., 1152 h).
#
# usage: Rscript desolve.R DLL PARAMS.csv N OUT.csv MODEL [RTOL ATOL]
#   MODEL  idr (depot, central, periph, dev) or pk (depot, central, periph)
# Simulates subjects 1..N one after the other at hourly times 0..1176;
# prints "desolve: N subjects in S s" (the loop only: not R's start-up,
# not reading PARAMS.csv, not writing OUT.csv), then writes OUT.csv
# (ID,TIME,CP[,R]) for the agreement check.
args <- commandArgs(trailingOnly = TRUE)
dll <- args[1]; pfile <- args[2]; n <- as.integer(args[3]); out <- args[4]
model <- args[5]
rtol <- if (length(args) >= 6) as.numeric(args[6]) else 1e-6
atol <- if (length(args) >= 7) as.numeric(args[7]) else 1e-8
suppressPackageStartupMessages(library(deSolve))
dyn.load(dll)
dllname <- sub("\\.[^.]*$", "", basename(dll))

p <- read.csv(pfile, colClasses = "numeric")[seq_len(n), ]
times <- 0:1176
ev <- data.frame(var = "depot", time = seq(0, 1152, by = 24), value = 100,
                 method = "add")
if (model == "idr") {
  y0 <- c(depot = 0, central = 0, periph = 0, dev = 0)
  fn <- "derivs"
} else {
  y0 <- c(depot = 0, central = 0, periph = 0)
  fn <- "derivs_pk"
}
res <- vector("list", n)
t0 <- proc.time()[["elapsed"]]
for (i in seq_len(n)) {
  parms <- c(p$CLI[i], p$V1I[i], p$IC50I[i])
  res[[i]] <- ode(y = y0, times = times, func = fn, parms = parms,
                  dllname = dllname, initfunc = "initmod",
                  events = list(data = ev), method = "lsoda",
                  rtol = rtol, atol = atol)
}
el <- proc.time()[["elapsed"]] - t0
cat(sprintf("desolve: %d subjects in %.4f s\n", n, el))

con <- file(out, "w")
writeLines(if (model == "idr") "ID,TIME,CP,R" else "ID,TIME,CP", con)
for (i in seq_len(n)) {
  m <- res[[i]]
  cp <- m[, "central"] / p$V1I[i]
  if (model == "idr") {
    lines <- sprintf("%d,%.0f,%.12g,%.12g", i, m[, "time"], cp, 100 + m[, "dev"])
  } else {
    lines <- sprintf("%d,%.0f,%.12g", i, m[, "time"], cp)
  }
  writeLines(lines, con)
}
close(con)
