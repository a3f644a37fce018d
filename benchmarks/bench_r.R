# From R: sigfactor's denovo_signatures() against MutationalPatterns::extract_signatures() at
# each rank and NMF::nmfEstimateRank() over the same ranks, on the 21 breast cancer genomes.
# A benchmark, not a test: it times real work and prints (and writes) the numbers.
#
# Usage (after `bash scripts/setup.sh`; on a quiet machine, nothing else using the cores):
#
#   RETICULATE_PYTHON=.venv/bin/python Rscript benchmarks/bench_r.R \
#       [--ranks 1-10] [--nrun 100] [--seed 1] [--out benchmarks/results/bench_r.json]
#
# What is measured, in one run, each as the wall time (elapsed) of one call:
# - sigfactor: denovo_signatures(mut_mat, ranks, nrun, seed): every rank's restarts on resampled
#   catalogues (KL NMF, the engine's compiled kernels on all cores), consensus, rank selection
#   and COSMIC decomposition; the engine is imported and warmed up before timing (one small
#   extraction), as a user's session would have it after the first call.
# - MutationalPatterns: extract_signatures(mut_mat, rank = k, nrun) for each k (NMF's "brunet"
#   multiplicative KL updates, nrun runs on all cores through NMF's parallel backend, the
#   best run kept); MutationalPatterns' default seed.
# - NMF::nmfEstimateRank(mut_mat + 1e-4, range = ranks, method = "brunet", nrun, seed): NMF's
#   rank survey (quality measures per rank, including the cophenetic correlation).
# Agreement: at every rank, the mean cosine similarity between sigfactor's consensus signatures
# and MutationalPatterns' signatures, matched one-to-one (Hungarian assignment, scipy's
# linear_sum_assignment through reticulate); the chosen ranks (sigfactor's selection, and the
# rank before the cophenetic correlation first drops, the usual reading of nmfEstimateRank).

suppressPackageStartupMessages({
  library(sigfactor)
  library(MutationalPatterns)
  library(NMF)
})

args <- commandArgs(trailingOnly = TRUE)
option <- function(name, default) {
  at <- match(name, args)
  if (is.na(at)) default else args[at + 1]
}
parse_ranks <- function(text) {
  bounds <- as.integer(strsplit(text, "-", fixed = TRUE)[[1]])
  if (length(bounds) == 1) bounds else seq(bounds[1], bounds[2])
}
ranks <- parse_ranks(option("--ranks", "1-10"))
nrun <- as.integer(option("--nrun", "100"))
seed <- as.integer(option("--seed", "1"))
out <- option("--out", file.path("benchmarks", "results", "bench_r.json"))

mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
cat(sprintf("21 breast genomes: %d mutation types x %d samples; ranks %s, nrun %d, %d cores\n",
            nrow(mut_mat), ncol(mut_mat), paste(range(ranks), collapse = "-"), nrun,
            parallel::detectCores()))

elapsed <- function(expr) {
  started <- proc.time()[["elapsed"]]
  value <- force(expr)
  list(value = value, seconds = proc.time()[["elapsed"]] - started)
}

# Hungarian-matched mean cosine of two signature matrices (columns), through scipy.
matched_cosine <- function(a, b) {
  a <- a[rownames(b), , drop = FALSE]
  cosine <- crossprod(a, b) / outer(sqrt(colSums(a^2)), sqrt(colSums(b^2)))
  lsa <- reticulate::import("scipy.optimize", convert = TRUE)$linear_sum_assignment
  pairs <- lsa(-cosine)
  mean(cosine[cbind(pairs[[1]] + 1L, pairs[[2]] + 1L)])
}

# Warm-up, untimed: the engine imported and its kernels loaded.
invisible(suppressWarnings(denovo_signatures(mut_mat, ranks = 2, nrun = 2, verbose = FALSE)))

ours <- elapsed(denovo_signatures(mut_mat, ranks = ranks, nrun = nrun, seed = seed,
                                  verbose = FALSE))
cat(sprintf("sigfactor denovo_signatures: %.1f s, chosen rank %d\n", ours$seconds,
            ours$value$rank))

theirs <- lapply(ranks, function(k) {
  run <- elapsed(MutationalPatterns::extract_signatures(mut_mat, rank = k, nrun = nrun))
  agreement <- matched_cosine(ours$value$solutions[[as.character(k)]]$signatures,
                              run$value$signatures)
  cat(sprintf("MutationalPatterns extract_signatures rank %2d: %6.1f s; matched cosine to sigfactor %.4f\n",
              k, run$seconds, agreement))
  list(rank = k, seconds = run$seconds, cosine = agreement)
})
mp_seconds <- sum(vapply(theirs, `[[`, 0, "seconds"))

survey <- elapsed(NMF::nmfEstimateRank(mut_mat + 1e-4, range = ranks, method = "brunet",
                                       nrun = nrun, seed = 123456))
measures <- survey$value$measures
cophenetic <- stats::setNames(measures$cophenetic, measures$rank)
drops <- which(diff(cophenetic) < -1e-6)
nmf_choice <- if (length(drops)) as.integer(names(cophenetic)[drops[1]]) else NA_integer_
cat(sprintf("NMF nmfEstimateRank: %.1f s; cophenetic %s; first drop after rank %s\n",
            survey$seconds, paste(sprintf("%d:%.3f", as.integer(names(cophenetic)), cophenetic),
                                  collapse = " "), nmf_choice))

result <- list(
  data = "breast21 (21 genomes, SBS96)", ranks = ranks, nrun = nrun, seed = seed,
  cores = parallel::detectCores(),
  sigfactor = list(seconds = ours$seconds, chosen_rank = ours$value$rank,
                   selection_reason = ours$value$selection_reason,
                   versions = as.list(ours$value$versions)),
  mutationalpatterns = list(seconds_total = mp_seconds, per_rank = theirs,
                            version = as.character(utils::packageVersion("MutationalPatterns"))),
  nmf_estimate_rank = list(seconds = survey$seconds, cophenetic = as.list(cophenetic),
                           first_cophenetic_drop_after = nmf_choice,
                           version = as.character(utils::packageVersion("NMF"))),
  speedup_vs_mutationalpatterns = mp_seconds / ours$seconds,
  speedup_vs_nmf_estimate_rank = survey$seconds / ours$seconds,
  r_version = R.version.string
)
cat(sprintf("sigfactor %.1f s; MutationalPatterns %.1f s (%.1fx); nmfEstimateRank %.1f s (%.1fx)\n",
            ours$seconds, mp_seconds, result$speedup_vs_mutationalpatterns, survey$seconds,
            result$speedup_vs_nmf_estimate_rank))
dir.create(dirname(out), recursive = TRUE, showWarnings = FALSE)
jsonlite::write_json(result, out, auto_unbox = TRUE, pretty = TRUE, digits = NA)
cat("written:", out, "\n")
