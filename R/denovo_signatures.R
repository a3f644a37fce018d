#' Extract mutational signatures de novo, choosing their number
#'
#' Runs the engine's extraction (\code{sigfactor.extract}, SigProfilerExtractor's workflow on a
#' batched engine): for every rank in \code{ranks}, \code{nrun} restarts fitted to resampled
#' catalogues, consensus signatures and their stability, exposures refitted to the real counts,
#' the rank chosen as SigProfilerExtractor chooses it, and the chosen signatures matched and
#' decomposed into reference (COSMIC v3.4) signatures.
#'
#' The result is the list \code{MutationalPatterns::extract_signatures} returns
#' (\code{signatures}, \code{contribution}, \code{reconstructed}), so that
#' \code{plot_96_profile}, \code{plot_contribution}, \code{rename_nmf_signatures},
#' \code{fit_to_signatures}, \code{fit_to_signatures_strict} and \code{cos_sim_matrix} take it
#' as it is, plus the evidence behind the choice. Its rows are in MutationalPatterns' labels
#' and order for the catalogue's kind (\code{\link{mutation_types}}), whatever the order of
#' \code{mut_matrix}, whose rows are matched by label. The name differs from
#' \code{MutationalPatterns::extract_signatures}, so both packages can be attached together.
#'
#' Defaults follow SigProfilerExtractor and MutationalPatterns: KL loss (MutationalPatterns'
#' \code{"brunet"} NMF; also the Python engine's default for extraction), 100 restarts per
#' rank, resampling, and GMM normalisation of hypermutated samples. For one \code{seed}, the
#' result is the one the Python API gives for the same arguments, bit for bit, on the same
#' device.
#'
#' @inheritParams factorize_signatures
#' @param ranks The numbers of signatures to try (whole numbers, at most the number of samples
#'   and of mutation types), e.g. \code{1:10}; one number fits that rank without selection.
#' @param nrun Restarts per rank (SigProfilerExtractor's NMF replicates), fitted as one batch.
#' @param model \code{"nmf"} (multiplicative updates), \code{"convex"} (convex NMF),
#'   \code{"aenmf"} (AE-NMF) or \code{"mvnmf"} (minimum-volume NMF).
#' @param loss \code{"kl"} (generalized Kullback-Leibler, the default) or \code{"frobenius"};
#'   convex NMF takes \code{"frobenius"} only, which is then the default.
#' @param rank_rule Which rule chooses the rank: \code{"sigprofiler"} (SigProfilerExtractor's
#'   stability and Wilcoxon rule, the default), \code{"bcv"} (bi-cross-validation of held-out
#'   error, the smallest rank within one standard error of the minimum), \code{"bic"} (the
#'   Poisson BIC) or \code{"stable_bcv"} (bi-cross-validation among the ranks that pass the
#'   stability thresholds). The chosen rule's per-rank quantities are in \code{stats}.
#' @param compare_rank_rules \code{TRUE} to compute every rule's per-rank quantities side by
#'   side in \code{stats} (bi-cross-validation adds about a third to the time on 21 genomes).
#' @param scheduler \code{NULL} (fit in this R session's Python), \code{"local"} (a Dask
#'   cluster of one worker process per CPU on 127.0.0.1, started for this call) or the address
#'   (\code{"tcp://host:8786"}) or scheduler file (\code{.json}) of a running Dask cluster.
#'   Results are the same, bit for bit, for KL NMF on the CPU.
#' @param stop_after_unstable \code{NULL}, or a number of ranks: once a rank was stable, stop
#'   trying higher ranks after this many unstable ranks in a row (the ranks not fitted are
#'   left out of \code{stats}).
#' @param seed The one non-negative whole number every random draw flows from (resampling and
#'   initial values); recorded in the result.
#' @param resample Fit each restart to its own multinomial resample of the catalogue (each
#'   sample keeps its total), as SigProfilerExtractor does (\code{TRUE} or \code{FALSE}).
#' @param normalization Normalisation of hypermutated samples before fitting: \code{"gmm"}
#'   (SigProfilerExtractor's default), \code{"log2"} or \code{"none"}.
#' @param reference Reference signatures for matching and decomposition: \code{NULL} (COSMIC
#'   v3.4 GRCh37 of the catalogue's kind), a name (\code{"COSMIC_v3.4_SBS96_GRCh38"},
#'   \code{"COSMIC_v3.4_SBS96_GRCh37_exome"}, \code{"COSMIC_v3.4_DBS78_GRCh37"},
#'   \code{"COSMIC_v3.4_ID83_GRCh37"}), the path of a signature file, or a matrix of signatures
#'   (for example \code{\link{cosmic_signatures}(build = "GRCh38")} or
#'   \code{MutationalPatterns::get_known_signatures()}, see \code{\link{refit_signatures}} for
#'   matrices without rownames).
#' @param refit_loss How the final exposures are refitted to the real counts:
#'   \code{"frobenius"} (NNLS, SigProfilerExtractor's) or \code{"kl"}.
#' @param max_iter,tol Stopping rule of every restart: at most \code{max_iter} iterations, or a
#'   relative change of the loss below \code{tol} over 10 iterations.
#' @param kl_exponent KL NMF only: the power of the multiplicative update's factor, at least 1
#'   and below 2. 1 (the default) is Lee and Seung's update; above 1 the over-relaxed update
#'   (Badeau, Bertin and Vincent 2010) takes longer steps: on PCAWG, 1.9 took 9-62\% less
#'   time per rank, but chose rank 15 where 1 chose 17; on a few genomes it can take longer.
#' @param solver KL NMF only: \code{"mu"} (the default), multiplicative updates, or
#'   \code{"cd"}, coordinate descent (Hsieh and Dhillon 2011), whose restarts meet the same
#'   stopping rule in fewer, costlier iterations (sweeps), with an extrapolated step tried at
#'   every check of the rule after the first. It takes no \code{kl_exponent}.
#' @param verbose Report progress and the chosen rank as R messages (\code{TRUE} or
#'   \code{FALSE}); \code{suppressMessages()} silences them too.
#' @param out \code{NULL}, or a folder to create with the same SigProfilerExtractor-layout
#'   output as the command line \code{sigfactor extract} (tables, \code{result.h5ad},
#'   \code{run.json} and, with \code{plots}, figures); see \code{\link{read_extraction}}.
#' @param force With \code{out}, replace an existing folder (only once the new one is complete).
#' @param plots With \code{out}, also write the figures (\code{TRUE} or \code{FALSE}).
#'
#' @return A list of class \code{sigfactor_extraction}:
#' \describe{
#'   \item{signatures}{Mutation types x k matrix of the chosen rank, columns summing to 1 and
#'     named \code{SBS96A}, \code{SBS96B}, ... (\code{DBS78A}, \code{ID83A}, ...).}
#'   \item{contribution}{k x samples matrix of exposures (mutation counts) refitted to the
#'     real counts.}
#'   \item{reconstructed}{Mutation types x samples matrix,
#'     \code{signatures \%*\% contribution} (computed by the engine).}
#'   \item{rank}{The chosen number of signatures.}
#'   \item{selection_reason}{Why that rank, in words.}
#'   \item{stats}{data.frame with one row per rank tried: \code{rank}, stabilities
#'     (\code{avg_stability}, \code{min_stability}), errors (\code{matrix_frobenius_pct},
#'     per-sample L1, L2, KL, cosine distance, correlation), restart losses,
#'     \code{converged_fraction}, \code{seconds}, and the selection columns \code{stable},
#'     \code{considered}, \code{p_value}, \code{chosen}.}
#'   \item{cosmic}{data.frame: each chosen signature decomposed into reference signatures
#'     (SigProfiler's \code{De_Novo_map_to_COSMIC} table).}
#'   \item{cosmic_matches}{data.frame: each chosen signature's one-to-one (Hungarian) match in
#'     the reference, with its cosine.}
#'   \item{cosmic_signatures, cosmic_contribution}{The reference signatures used by the
#'     decomposition (mutation types x signatures) and the catalogue's exposures refitted to
#'     them (signatures x samples).}
#'   \item{solutions}{Every rank's solution, a list named by rank of lists with
#'     \code{signatures}, \code{contribution} and \code{stability}.}
#'   \item{seeds}{\code{seed}, \code{resample_seed} and the per-rank \code{rank_seeds}.}
#'   \item{versions}{Named character vector: versions of sigfactor, PyTorch, numpy, numba,
#'     pandas, scipy and Python.}
#'   \item{settings}{The engine's record of the run: arguments, device, threads, timings.}
#'   \item{out}{The folder written, or \code{NULL}.}
#' }
#'
#' @seealso \code{\link{factorize_signatures}} (one rank, without selection),
#'   \code{\link{read_extraction}}, \code{\link{write_anndata}},
#'   \code{MutationalPatterns::extract_signatures}
#' @examples
#' if (sigfactor_available()) {
#'   mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
#'   res <- denovo_signatures(mut_mat, ranks = 2:4, nrun = 10, seed = 1, verbose = FALSE)
#'   res
#'   res$stats[, c("rank", "avg_stability", "min_stability", "chosen")]
#'   res$cosmic
#' }
#' @export
denovo_signatures <- function(mut_matrix, ranks = 1:10, nrun = 100,
                              model = c("nmf", "convex", "aenmf", "mvnmf"),
                              loss = c("kl", "frobenius"),
                              rank_rule = c("sigprofiler", "bcv", "bic", "stable_bcv"),
                              seed = 0, resample = TRUE, normalization = c("gmm", "log2", "none"),
                              reference = NULL, device = "auto", threads = NULL, scheduler = NULL,
                              refit_loss = c("frobenius", "kl"), max_iter = 10000, tol = 1e-6,
                              kl_exponent = 1, solver = c("mu", "cd"), compare_rank_rules = FALSE,
                              stop_after_unstable = NULL,
                              verbose = TRUE, out = NULL,
                              force = FALSE, plots = TRUE, assay = NULL) {
  model <- match_choice(model)
  rank_rule <- match_choice(rank_rule)
  loss <- if (missing(loss) && model == "convex") "frobenius" else match_choice(loss)
  normalization <- match_choice(normalization)
  refit_loss <- match_choice(refit_loss)
  solver <- match_choice(solver)
  resample <- check_flag(resample, "resample")
  compare_rank_rules <- check_flag(compare_rank_rules, "compare_rank_rules")
  verbose <- check_flag(verbose, "verbose")
  force <- check_flag(force, "force")
  plots <- check_flag(plots, "plots")
  device <- check_device(device)
  scheduler <- check_scheduler(scheduler)
  out <- check_out(out, force)
  counts <- as_count_matrix(mut_matrix, "mut_matrix", assay = assay)
  kind <- check_labels(counts, "mut_matrix", "sample")
  ranks <- check_ranks(ranks, counts)
  names <- c(data = "mut_matrix", n_restarts = "nrun", progress = "verbose")
  sigfactor <- engine()
  result <- with_progress(verbose, "Extracting signatures", function(progress) {
    engine_call(
      sigfactor$extract, to_engine(counts), ranks = as_py_int(as.list(ranks)), model = model,
      loss = loss, n_restarts = as_py_int(nrun), resample = resample,
      normalization = normalization, seed = as_py_int(seed), device = device,
      reference = reference_to_engine(reference), progress = progress, refit_loss = refit_loss,
      max_iter = as_py_int(max_iter), tol = tol, kl_exponent = kl_exponent, solver = solver,
      threads = if (is.null(threads)) NULL else as_py_int(threads), rank_rule = rank_rule,
      compare_rank_rules = compare_rank_rules, scheduler = scheduler,
      stop_after_unstable = if (is.null(stop_after_unstable)) NULL else
        as_py_int(stop_after_unstable),
      names = names
    )
  }, report = progress_reporter("ranks", ranks = ranks, nrun = nrun))
  if (!is.null(out)) {
    write_folder(result, out, force, plots, match.call())
  }
  extraction <- extraction_from_engine(result, mutation_types(kind))
  extraction$out <- out
  if (verbose) {
    cli::cli_inform(c("v" = "Chose {extraction$rank} signature{?s}: {extraction$selection_reason}"))
  }
  extraction
}

# Ranks as distinct whole numbers from 1 to the smaller dimension of `counts`, sorted.
check_ranks <- function(ranks, counts) {
  if (!is.numeric(ranks) || length(ranks) == 0 || anyNA(ranks) || any(!is.finite(ranks)) ||
      any(ranks != round(ranks)) || any(ranks < 1) || anyDuplicated(ranks)) {
    stop(sprintf(
      "ranks = %s is not valid; expected distinct whole numbers >= 1, such as 1:10.",
      shown(ranks)), call. = FALSE)
  }
  if (max(ranks) > min(dim(counts))) {
    text <- sprintf(paste0(
      "ranks = %s reach %d, beyond the %d samples x %d mutation types of mut_matrix; ",
      "expected ranks <= %d."), shown(ranks), max(ranks), ncol(counts), nrow(counts),
      min(dim(counts)))
    stop(text, call. = FALSE)
  }
  sort(as.integer(ranks))
}

# The command line's output folder for an engine ExtractionResult, with the R call in run.json.
write_folder <- function(result, out, force, plots, call) {
  command <- paste(deparse(call, width.cutoff = 500L), collapse = " ")
  engine_call(reticulate::import("sigfactor.io", convert = FALSE)$write_extraction, result,
              out, force = force, plots = plots,
              run_info = reticulate::dict(command = list("R", command)))
}

# `out` as a normalised path that the engine may create, refused before any work when it exists
# (without `force`) or its folder does not.
check_out <- function(out, force) {
  if (is.null(out)) {
    return(NULL)
  }
  if (!is.character(out) || length(out) != 1 || is.na(out) || !nzchar(out)) {
    stop(sprintf("out = %s is not valid; expected NULL or the path of a folder to create.",
                 shown(out)), call. = FALSE)
  }
  out <- normalizePath(path.expand(out), mustWork = FALSE)
  folder <- reticulate::import("sigfactor.io.folder", convert = FALSE)
  engine_call(folder$check_out_dir, out, force, names = c(out = "out"))
  out
}

# The `reference` argument for the engine: NULL, a name or path as they are, a matrix (or
# data.frame) of signatures as a labelled DataFrame.
reference_to_engine <- function(reference) {
  if (is.null(reference) || is.character(reference) && length(reference) == 1 &&
      !is.na(reference)) {
    return(if (is.character(reference)) path.expand(reference) else NULL)
  }
  signatures <- as_count_matrix(label_rows(reference, "reference"), "reference",
                                what = "signature")
  to_engine(signatures)
}

# An engine ExtractionResult as the R list denovo_signatures() documents, rows in `rows` (the
# kind's MutationalPatterns labels and order).
extraction_from_engine <- function(result, rows) {
  settings <- settings_from_engine(result$settings)
  seeds <- settings$seeds
  seeds$rank_seeds <- unlist(seeds$rank_seeds)
  builtins <- reticulate::import_builtins(convert = FALSE)
  solutions <- as.integer(unlist(reticulate::py_to_r(builtins$list(result$solutions$keys()))))
  solution_list <- lapply(solutions, function(k) {
    solution <- result$solutions[[as_py_int(k)]]
    list(signatures = from_engine(solution$signatures, rows = rows),
         contribution = from_engine(solution$exposures$T),
         stability = stats::setNames(
           as.numeric(reticulate::py_to_r(solution$stability$to_numpy(dtype = "float64"))),
           as.character(unlist(reticulate::py_to_r(solution$stability$index$tolist())))))
  })
  names(solution_list) <- as.character(solutions)
  structure(list(
    signatures = from_engine(result$signatures, rows = rows),
    contribution = from_engine(result$exposures$T),
    reconstructed = from_engine(result$reconstructed, rows = rows),
    rank = as.integer(reticulate::py_to_r(result$rank)),
    selection_reason = reticulate::py_to_r(result$selection_reason),
    stats = frame_to_df(result$stats, index = "rank"),
    cosmic = frame_to_df(result$decomposition_table()),
    cosmic_matches = frame_to_df(result$cosmic_matches),
    cosmic_signatures = from_engine(result$cosmic_signatures, rows = rows),
    cosmic_contribution = from_engine(result$cosmic_exposures$T),
    solutions = solution_list,
    seeds = seeds,
    versions = unlist(settings$versions),
    settings = settings[setdiff(names(settings), c("seeds", "versions"))]
  ), class = "sigfactor_extraction")
}

#' @export
print.sigfactor_extraction <- function(x, ...) {
  k <- ncol(x$signatures)
  cat(sprintf("sigfactor extraction: %d signature%s (%s) in %d samples\n", k,
              if (k == 1) "" else "s", paste(colnames(x$signatures), collapse = ", "),
              ncol(x$contribution)))
  cat(sprintf("ranks tried: %s\n", paste(x$stats$rank, collapse = ", ")))
  if (!is.null(x$selection_reason)) {
    cat(strwrap(paste("selection:", x$selection_reason), exdent = 2), sep = "\n")
  }
  if (!is.null(x$tool)) {
    cat(sprintf("read from %s's folder %s\n", x$tool, x$out))
  }
  if (!is.null(x$cosmic_matches) && nrow(x$cosmic_matches) > 0) {
    cat(sprintf("closest reference signatures: %s\n",
                paste0(x$cosmic_matches$signature, " ~ ", x$cosmic_matches$match,
                       collapse = ", ")))
  }
  cat("elements: ", paste(names(x), collapse = ", "), "\n", sep = "")
  invisible(x)
}
