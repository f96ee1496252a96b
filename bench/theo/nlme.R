# bench/theo peer: R nlme's Lindstrom-Bates fit of the theophylline model
# of examples/theophylline/theo.qlx, written in closed form: one
# compartment, first-order absorption, log ka, log CL (with (WT/70)^0.75)
# and log V, a diagonal random effect on log ka and a 2 x 2 block on log
# CL and log V, additive error.
#
# usage: Rscript nlme.R THEO_SD.csv RUNS
# prints "nlme: run I in S s" for each run, then the estimates and
# "nlme: OFV X" (-2 log L without N log(2 pi), NONMEM's convention).
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(nlme))
d <- read.csv(args[1])
runs <- as.integer(args[2])
names(d)[1] <- "ID"
dose <- d[d$EVID == 1, c("ID", "AMT")]
obs <- d[d$EVID == 0, ]
obs$dose <- dose$AMT[match(obs$ID, dose$ID)]
obs <- groupedData(DV ~ TIME | ID, data = obs)
f <- DV ~ dose * exp(lKa) / (exp(lV) * (exp(lKa) - exp(lCl) * (WT / 70)^0.75 / exp(lV))) *
  (exp(-exp(lCl) * (WT / 70)^0.75 / exp(lV) * TIME) - exp(-exp(lKa) * TIME))
fit <- NULL
for (i in seq_len(runs)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- nlme(f, data = obs, fixed = lKa + lCl + lV ~ 1,
              random = pdBlocked(list(pdDiag(lKa ~ 1), pdSymm(lCl + lV ~ 1))),
              start = c(lKa = 0.45, lCl = 1.0, lV = 3.45))
  cat(sprintf("nlme: run %d in %.4f s\n", i, proc.time()[["elapsed"]] - t0))
}
tt <- summary(fit)$tTable
for (p in rownames(tt)) cat(sprintf("nlme: %s %.5f SE %.5f\n", p, tt[p, 1], tt[p, 2]))
vc <- as.numeric(VarCorr(fit)[, "Variance"])
cat(sprintf("nlme: variances (ka, cl, v, residual) %s\n",
            paste(sprintf("%.5f", vc[!is.na(vc)]), collapse = " ")))
n <- nrow(obs)
cat(sprintf("nlme: OFV %.4f\n", -2 * as.numeric(logLik(fit)) - n * log(2 * pi)))
