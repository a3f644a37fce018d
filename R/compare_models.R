#' Compare NMF, convex NMF and AE-NMF on train/test splits
#'
#' Runs the engine's model comparison (\code{sigfactor.compare_models}), the protocol of
#' Egendal et al. (2025): each model is fitted on the same random training splits of the
#' samples; the held-out samples are refitted to the learned signatures (NNLS and Poisson)
#' for a held-out error; signatures are compared between splits (run-to-run consistency), matched
#' to the reference (COSMIC v3.4) per run, and summarised as consensus signatures per model.
#'
#' @inheritParams denovo_signatures
#' @param rank The number of signatures.
#' @param models The models to compare: any of \code{"nmf"}, \code{"convex"} and
#'   \code{"aenmf"}.
#' @param n_splits Random train/test splits (at least 2).
#' @param train_fraction Share of the samples used for training, strictly between 0 and 1.
#' @param seed Seeds the splits and the per-split initialisation (a non-negative whole number).
#' @param reference Reference signatures for the matching: \code{NULL} (COSMIC v3.4 of the
#'   catalogue's kind), the path of a signature file, or a matrix of signatures (see
#'   \code{\link{refit_signatures}} for matrices without rownames).
#' @param settings \code{"paper"} (the paper's settings: Frobenius losses, tolerance 1e-10,
#'   AE-NMF with Adam at learning rate 1e-4 from U(0, 1) weights as the paper's code, each model
#'   with an iteration cap), \code{"paper-linear"} (the same with AE-NMF started from
#'   \code{nn.Linear} magnitudes) or \code{"fast"} (tolerance 1e-6, at most 5000 iterations,
#'   AE-NMF at learning rate 1e-3).
#' @param max_iter \code{NULL}, or an iteration cap for every model (overrides the settings').
#' @param scheduler \code{NULL} (fit in this R session's Python), \code{"local"} (a Dask
#'   cluster of one worker process per CPU on 127.0.0.1, started for this call) or the address
#'   (\code{"tcp://host:8786"}) or scheduler file (\code{.json}) of a running Dask cluster, where
#'   the splits x models are fitted. The workers fit blocks of splits where this session fits
#'   each model's splits as one batch, so the numbers agree to float rounding.
#' @param out \code{NULL}, or a folder to create with the comparison's tables (CSV),
#'   \code{summary.md}, \code{run.json} and, with \code{plots}, its figures (held-out error per
#'   split, consistency, reference matches; PNG), as \code{sigfactor compare} writes them.
#' @param plots With \code{out}, also draw the figures (\code{TRUE} or \code{FALSE}).
#'
#' @return A list of class \code{sigfactor_comparison}:
#' \describe{
#'   \item{runs}{data.frame, one row per split and model: \code{train_loss},
#'     \code{test_error} (held-out MSE), \code{test_error_kl}, \code{seconds}, \code{n_iter},
#'     \code{converged}, \code{seed}, \code{max_within_cosine}.}
#'   \item{consistency}{data.frame per model: mean, median and minimum Hungarian-matched
#'     cosine between the signatures of two splits, and the number of pairs.}
#'   \item{pairwise}{data.frame: every pair of splits behind \code{consistency}.}
#'   \item{cosmic_per_run}{data.frame: each run's signatures matched one-to-one to the
#'     reference.}
#'   \item{consensus}{data.frame per model and consensus signature: medoid, cluster size and
#'     reference match.}
#'   \item{agreement}{data.frame: the models' consensus signatures matched pairwise.}
#'   \item{splits}{data.frame: which samples trained and tested in each split.}
#'   \item{consensus_signatures}{A list named by model of mutation types x k matrices
#'     (MutationalPatterns' order), ready for \code{MutationalPatterns::plot_96_profile}.}
#'   \item{signatures}{data.frame: every run's signatures, one row per model, split and
#'     signature, one column per mutation type.}
#'   \item{summary}{The comparison's tables as Markdown text (\code{summary.md}).}
#'   \item{settings}{The engine's record: parameters, per-model settings, seeds, versions.}
#'   \item{out, figures}{The folder written and the paths of its figures, or \code{NULL}.}
#' }
#'
#' @references Egendal, I. et al. (2025) Linear autoencoders for mutational signature
#'   extraction. Journal of Computational Biology.
#' @seealso \code{\link{denovo_signatures}}
#' @examples
#' if (sigfactor_available()) {
#'   mut_mat <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
#'   cmp <- compare_models(mut_mat, rank = 3, n_splits = 3, settings = "fast", max_iter = 200,
#'                         verbose = FALSE)
#'   cmp$consistency
#'   aggregate(test_error ~ model, data = cmp$runs, FUN = median)
#' }
#' @export
compare_models <- function(mut_matrix, rank, models = c("nmf", "convex", "aenmf"),
                           n_splits = 30, train_fraction = 0.8, seed = 0, reference = NULL,
                           settings = c("paper", "paper-linear", "fast"), max_iter = NULL, device = "auto",
                           scheduler = NULL, verbose = TRUE, out = NULL, force = FALSE, plots = TRUE,
                           assay = NULL) {
  settings <- match_choice(settings)
  check_models(models)
  verbose <- check_flag(verbose, "verbose")
  force <- check_flag(force, "force")
  plots <- check_flag(plots, "plots")
  device <- check_device(device)
  scheduler <- check_scheduler(scheduler)
  out <- check_out(out, force)
  counts <- as_count_matrix(mut_matrix, "mut_matrix", assay = assay)
  kind <- check_labels(counts, "mut_matrix", "sample")
  names <- c(data = "mut_matrix", progress = "verbose")
  sigfactor <- engine()
  result <- with_progress(verbose, "Comparing models", function(progress) {
    engine_call(
      sigfactor$compare_models, to_engine(counts), as_py_int(rank), models = as.list(models),
      n_splits = as_py_int(n_splits), train_fraction = train_fraction, seed = as_py_int(seed),
      reference = reference_to_engine(reference), settings = settings, progress = progress,
      max_iter = if (is.null(max_iter)) NULL else as_py_int(max_iter), device = device,
      scheduler = scheduler, names = names
    )
  }, report = progress_reporter("stages"))
  figures <- NULL
  if (!is.null(out)) {
    engine_call(result$write, out, plots = plots, force = force)
    figures <- if (plots) list.files(out, pattern = "\\.png$", full.names = TRUE) else character()
  }
  comparison_from_engine(result, models, mutation_types(kind), out, figures)
}

# Distinct models among those compare_models() knows.
check_models <- function(models) {
  valid <- c("nmf", "convex", "aenmf")
  if (!is.character(models) || length(models) == 0 || anyNA(models) ||
      !all(models %in% valid) || anyDuplicated(models)) {
    stop(sprintf("models = %s is not valid; expected distinct values among %s.", shown(models),
                 paste0("\"", valid, "\"", collapse = ", ")), call. = FALSE)
  }
  invisible(models)
}

# An engine Comparison as the R list compare_models() documents; signature rows in `rows`.
comparison_from_engine <- function(result, models, rows, out, figures) {
  consensus <- result$consensus_signatures
  consensus_list <- lapply(stats::setNames(models, models), function(model) {
    from_engine(consensus$loc[model]$T, rows = rows)
  })
  structure(list(
    runs = frame_to_df(result$runs),
    consistency = frame_to_df(result$consistency),
    pairwise = frame_to_df(result$pairwise),
    cosmic_per_run = frame_to_df(result$cosmic_per_run),
    consensus = frame_to_df(result$consensus),
    agreement = frame_to_df(result$agreement),
    splits = frame_to_df(result$splits),
    consensus_signatures = consensus_list,
    signatures = frame_to_df(result$signatures$reset_index()),
    summary = reticulate::py_to_r(result$summary()),
    settings = settings_from_engine(result$settings),
    out = out,
    figures = figures
  ), class = "sigfactor_comparison")
}

#' @export
print.sigfactor_comparison <- function(x, ...) {
  settings <- x$settings
  cat(sprintf("sigfactor model comparison: rank %s, %s splits, models %s\n", settings$rank,
              settings$n_splits, paste(settings$models, collapse = ", ")))
  medians <- tapply(x$runs$test_error, x$runs$model, stats::median)
  cat("median held-out MSE: ",
      paste0(names(medians), " ", formatC(medians, digits = 4, format = "g"), collapse = ", "),
      "\n", sep = "")
  cat("run-to-run consistency (mean matched cosine): ",
      paste0(x$consistency$model, " ", formatC(x$consistency$mean, digits = 3, format = "f"),
             collapse = ", "), "\n", sep = "")
  cat("elements: ", paste(names(x), collapse = ", "), "\n", sep = "")
  invisible(x)
}
