# Small extractions keep these fast (ranks 2-3, 5 restarts, 300 iterations at most); the
# engine's own tests cover the numerics. The iteration cap may be reached, so the engine's
# convergence warning is silenced where it does not matter.

breast21 <- function() {
  read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor",
                             mustWork = TRUE))
}

quick_denovo <- function(mut_matrix, ..., ranks = 2:3, nrun = 5, seed = 3) {
  suppressWarnings(denovo_signatures(mut_matrix, ranks = ranks, nrun = nrun, seed = seed,
                                     max_iter = 300, verbose = FALSE, ...))
}

# The extraction several tests look at, made once.
example_denovo <- local({
  result <- NULL
  function() {
    if (is.null(result)) result <<- quick_denovo(breast21())
    result
  }
})

# The same extraction made by the Python API directly (no R conversions): sigfactor.extract on
# a pandas DataFrame built here, with the engine's own argument names.
python_extract <- function(mut_matrix, ..., ranks = 2:3, nrun = 5L, seed = 3L) {
  warnings <- reticulate::import("warnings", convert = FALSE)
  with(warnings$catch_warnings(), {
    warnings$simplefilter("ignore")
    result <- python_engine()$extract(pandas_frame(mut_matrix), ranks = as.list(as.integer(ranks)),
                                      n_restarts = as.integer(nrun), seed = as.integer(seed),
                                      max_iter = 300L, progress = FALSE, ...)
  })
  result
}

test_that("the result is MutationalPatterns' list, in its row order, with the evidence", {
  skip_if_no_engine()
  mm <- breast21()
  res <- example_denovo()
  k <- res$rank
  expect_s3_class(res, "sigfactor_extraction")
  expect_true(k %in% 2:3)
  names_k <- paste0("SBS96", LETTERS[seq_len(k)])
  # MutationalPatterns' row order: the rows of its own example mut_matrix.
  mp_rows <- rownames(example_mut_matrix())
  expect_identical(dimnames(res$signatures), list(mp_rows, names_k))
  expect_identical(dimnames(res$contribution), list(names_k, colnames(mm)))
  expect_identical(dimnames(res$reconstructed), list(mp_rows, colnames(mm)))
  expect_equal(unname(colSums(res$signatures)), rep(1, k), tolerance = 1e-6)
  expect_equal(res$reconstructed, res$signatures %*% res$contribution, tolerance = 1e-10)
  # A real fit: it explains most of the counts.
  expect_gt(cor(as.vector(res$reconstructed), as.vector(mm[mp_rows, ])), 0.95)
  expect_s3_class(res$stats, "data.frame")
  expect_identical(res$stats$rank, 2:3)
  expect_identical(res$stats$rank[res$stats$chosen], k)
  expect_type(res$stats$p_value, "double")
  expect_type(res$stats$stable, "logical")
  expect_match(res$selection_reason, "chosen", fixed = TRUE)
  expect_s3_class(res$cosmic, "data.frame")
  expect_identical(res$cosmic[["De novo extracted"]], names_k)
  expect_identical(res$cosmic_matches$signature, names_k)
  expect_true(all(res$cosmic_matches$match %in% colnames(cosmic_signatures())))
  expect_identical(rownames(res$cosmic_signatures), mp_rows)
  expect_identical(colnames(res$cosmic_contribution), colnames(mm))
  expect_named(res$solutions, c("2", "3"))
  expect_identical(res$solutions[[as.character(k)]]$signatures, res$signatures)
  expect_identical(res$seeds$seed, 3L)
  expect_named(res$seeds$rank_seeds, c("2", "3"))
  expect_identical(res$versions[["sigfactor"]], sigfactor_config()$sigfactor)
  expect_identical(res$settings$arguments$n_restarts, 5L)
  expect_null(res$out)
  printed <- capture.output(print(res))
  expect_match(printed[1], sprintf("sigfactor extraction: %d signatures", k), fixed = TRUE)
})

test_that("R and Python give bit-identical results for one seed (KL and Frobenius)", {
  skip_if_no_engine()
  mm <- breast21()
  for (loss in c("kl", "frobenius")) {
    ours <- if (loss == "kl") example_denovo() else quick_denovo(mm, loss = loss)
    theirs <- python_extract(mm, loss = loss)
    # Compared with identical(): a conversion that rounded, reordered or refitted anything in R
    # would fail here. Rows are matched by their (SBS96: identical) labels.
    expect_identical(ours$rank, reticulate::py_to_r(theirs$rank))
    expect_identical(ours$signatures,
                     frame_matrix(theirs$signatures)[rownames(ours$signatures), ])
    expect_identical(ours$contribution, t(frame_matrix(theirs$exposures)))
    expect_identical(ours$stats$avg_stability,
                     as.numeric(reticulate::py_to_r(theirs$stats[["avg_stability"]]$tolist())))
    expect_identical(ours$selection_reason, reticulate::py_to_r(theirs$selection_reason))
  }
  # Another seed gives other numbers (so the identity above is not vacuous).
  other <- quick_denovo(mm, seed = 4)
  expect_false(identical(other$signatures, example_denovo()$signatures))
})

test_that("every fitting option reaches the engine: non-default values give the Python API's result", {
  # Catches an argument dropped between R and the engine (the engine's default used instead):
  # normalization, refit_loss, tol, kl_exponent and resample each change the numbers here, so R's
  # result equals the Python API's with the same non-default values only if all five arrive. threads
  # changes no number (restarts are bitwise the same on any thread count): it is checked in the
  # settings the engine records.
  skip_if_no_engine()
  mm <- breast21()
  ours <- quick_denovo(mm, normalization = "log2", refit_loss = "kl", tol = 1e-4, kl_exponent = 1.5,
                       resample = FALSE, threads = 1)
  theirs <- python_extract(mm, normalization = "log2", refit_loss = "kl", tol = 1e-4,
                           kl_exponent = 1.5, resample = FALSE, threads = 1L)
  expect_identical(ours$rank, reticulate::py_to_r(theirs$rank))
  expect_identical(ours$signatures, frame_matrix(theirs$signatures)[rownames(ours$signatures), ])
  expect_identical(ours$contribution, t(frame_matrix(theirs$exposures)))
  arguments <- ours$settings$arguments
  expect_identical(arguments[c("normalization", "refit_loss", "resample")],
                   list(normalization = "log2", refit_loss = "kl", resample = FALSE))
  expect_identical(arguments$tol, 1e-4)
  expect_identical(arguments$kl_exponent, 1.5)
  expect_identical(ours$settings$threads, 1L)
  # Each option alone moves the result away from the defaults (so the identity is not vacuous).
  defaults <- example_denovo()
  for (option in list(list(normalization = "log2"), list(refit_loss = "kl"), list(tol = 1e-4),
                      list(kl_exponent = 1.5), list(resample = FALSE))) {
    one <- do.call(quick_denovo, c(list(mm), option))
    expect_false(identical(one$contribution, defaults$contribution), info = names(option))
  }
})

test_that("solver reaches the engine: coordinate descent gives the Python API's result", {
  # Catches solver dropped between R and the engine (multiplicative updates used instead), and a
  # bad value or combination not refused in R's words or the engine's.
  skip_if_no_engine()
  mm <- breast21()
  ours <- quick_denovo(mm, solver = "cd", threads = 1)
  theirs <- python_extract(mm, solver = "cd", threads = 1L)
  expect_identical(ours$signatures, frame_matrix(theirs$signatures)[rownames(ours$signatures), ])
  expect_identical(ours$contribution, t(frame_matrix(theirs$exposures)))
  expect_identical(ours$settings$arguments$solver, "cd")
  expect_false(identical(ours$contribution, example_denovo()$contribution))
  expect_error(quick_denovo(mm, solver = "newton"),
               "solver = \"newton\" is not valid; expected one of \"mu\", \"cd\"", fixed = TRUE)
  expect_error(quick_denovo(mm, solver = "cd", kl_exponent = 1.5),
               "solver = \"cd\" takes no kl_exponent", fixed = TRUE)
  expect_error(quick_denovo(mm, solver = "cd", loss = "frobenius"),
               "solver = \"cd\" applies to model = \"nmf\" with loss = \"kl\" only", fixed = TRUE)
})

test_that("it does not mask MutationalPatterns::extract_signatures, nor any MutationalPatterns name", {
  skip_if_not_installed("MutationalPatterns")
  expect_length(intersect(getNamespaceExports("sigfactor"),
                          getNamespaceExports("MutationalPatterns")), 0)
  # Attached in either order, extract_signatures stays MutationalPatterns'.
  output <- run_with_python(c(
    "suppressPackageStartupMessages(library(MutationalPatterns))",
    "cat('FROM:', environmentName(environment(extract_signatures)), '\\n')",
    "cat('DENOVO:', environmentName(environment(denovo_signatures)), '\\n')"
  ), reticulate::py_config()$python)
  text <- paste(output, collapse = "\n")
  expect_match(text, "FROM: MutationalPatterns", fixed = TRUE)
  expect_match(text, "DENOVO: sigfactor", fixed = TRUE)
  expect_false(grepl("masked", text))
})

test_that("MutationalPatterns' plotting, renaming, fitting and similarity functions take it unchanged", {
  skip_if_no_engine()
  mm <- breast21()
  res <- example_denovo()
  cosmic <- cosmic_signatures()
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_s3_class(MutationalPatterns::plot_96_profile(res$signatures), "ggplot")
  print(MutationalPatterns::plot_96_profile(res$signatures))
  print(MutationalPatterns::plot_contribution(res$contribution, res$signatures, mode = "absolute"))
  print(MutationalPatterns::plot_contribution(res$contribution, res$signatures, mode = "relative"))
  # rename_nmf_signatures names each signature after its most similar reference signature; the
  # cosine is computed here by hand.
  renamed <- MutationalPatterns::rename_nmf_signatures(res, cosmic, cutoff = 0.5)
  cosine <- crossprod(res$signatures, cosmic) /
    outer(sqrt(colSums(res$signatures^2)), sqrt(colSums(cosmic^2)))
  expect_identical(colnames(renamed$signatures),
                   paste0(colnames(cosmic)[apply(cosine, 1, which.max)], "-like"))
  expect_identical(rownames(renamed$contribution), colnames(renamed$signatures))
  similarity <- MutationalPatterns::cos_sim_matrix(res$signatures, cosmic)
  expect_equal(unname(similarity), unname(cosine), tolerance = 1e-10)
  counts <- mm[rownames(res$signatures), ]
  fit <- MutationalPatterns::fit_to_signatures(counts, res$signatures)
  expect_equal(fit$contribution, refit_signatures(counts, res$signatures)$contribution,
               tolerance = 1e-8)
  strict <- MutationalPatterns::fit_to_signatures_strict(counts, res$signatures, max_delta = 0.004)
  expect_identical(dim(strict$fit_res$contribution), dim(res$contribution))
})

test_that("a data.frame, a SummarizedExperiment or shuffled rows give the same extraction", {
  skip_if_no_engine()
  mm <- breast21()
  res <- example_denovo()
  expect_identical(quick_denovo(as.data.frame(mm))$signatures, res$signatures)
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = mm))
  expect_identical(quick_denovo(se, assay = "counts")$signatures, res$signatures)
  set.seed(5)
  shuffled <- quick_denovo(mm[sample(nrow(mm)), ])
  # Output rows are MutationalPatterns' order whatever the input's order.
  expect_identical(shuffled$signatures, res$signatures)
  expect_identical(shuffled$reconstructed, res$reconstructed)
})

test_that("rank_rule and stop_after_unstable reach the engine", {
  skip_if_no_engine()
  mm <- breast21()
  bic <- quick_denovo(mm, ranks = 1:4, rank_rule = "bic")
  # The BIC rule's choice is the rank with the smallest BIC in the table (computed here).
  expect_identical(bic$rank, bic$stats$rank[which.min(bic$stats$bic)])
  expect_match(bic$selection_reason, "BIC")
  expect_identical(bic$settings$arguments$rank_rule, "bic")
  expect_error(quick_denovo(mm, rank_rule = "aic"),
               paste("rank_rule = \"aic\" is not valid; expected one of \"sigprofiler\", \"bcv\",",
                     "\"bic\", \"stable_bcv\"."),
               fixed = TRUE)
  expect_error(quick_denovo(mm, stop_after_unstable = 0), "stop_after_unstable = 0 is out of range",
               fixed = TRUE)
  # stable_bcv: the choice is a stable rank (the table's own flags), whatever BCV alone picks.
  sb <- quick_denovo(mm, ranks = 1:5, rank_rule = "stable_bcv")
  expect_true(sb$stats$stable[sb$stats$rank == sb$rank])
  expect_match(sb$selection_reason, "stable_bcv", fixed = TRUE)
})

test_that("a reference matrix, such as get_known_signatures(), serves the COSMIC decomposition", {
  skip_if_no_engine()
  mm <- breast21()
  known <- MutationalPatterns::get_known_signatures()
  res <- quick_denovo(mm, ranks = 3, reference = known)
  expect_true(all(res$cosmic_matches$match %in% colnames(known)))
  expect_identical(dim(res$cosmic_signatures)[1], 96L)
  expect_error(quick_denovo(mm, ranks = 3, reference = known[-1, ]),
               "reference has no rownames and 95 rows", fixed = TRUE)
})

test_that("out = writes the command line's folder, refused up front when it exists", {
  skip_if_no_engine()
  mm <- breast21()
  out <- file.path(tempfile("denovo-"), "result")
  dir.create(dirname(out))
  res <- quick_denovo(mm, ranks = 2, out = out, plots = FALSE)
  expect_identical(res$out, normalizePath(out))
  expect_true(file.exists(file.path(out, "SBS96", "All_solutions_stat.csv")))
  expect_true(file.exists(file.path(out, "result.h5ad")))
  run <- jsonlite::fromJSON(file.path(out, "run.json"))
  expect_identical(run$command[1], "R")
  expect_match(run$command[2], "denovo_signatures(", fixed = TRUE)
  written <- utils::read.delim(file.path(out, "SBS96", "Suggested_Solution",
                                         "SBS96_De-Novo_Solution", "Signatures",
                                         "SBS96_De-Novo_Signatures.txt"), row.names = 1,
                               check.names = FALSE)
  expect_equal(as.matrix(written)[rownames(res$signatures), ], res$signatures,
               tolerance = 1e-7)
  expect_error(quick_denovo(mm, ranks = 2, out = out),
               "already exists; choose another or pass force = TRUE", fixed = TRUE)
  expect_error(quick_denovo(mm, ranks = 2, out = file.path(tempdir(), "no", "such")),
               "does not exist; create it first.", fixed = TRUE)
})

test_that("bad input gives one R sentence naming the argument, before any fitting", {
  skip_if_no_engine()
  mm <- breast21()
  expect_error(denovo_signatures(t(mm), ranks = 2),
               "mut_matrix has samples as rows and mutation types as columns (21 x 96, column names such as 'A[C>A]A'); expected mutation types as rows: pass t(mut_matrix).",
               fixed = TRUE)
  expect_error(denovo_signatures(mm, ranks = 1:40),
               "ranks = 1:40 reach 40, beyond the 21 samples x 96 mutation types of mut_matrix; expected ranks <= 21.",
               fixed = TRUE)
  expect_error(denovo_signatures(mm, ranks = c(2, NA)),
               "ranks = c(2, NA) is not valid; expected distinct whole numbers >= 1, such as 1:10.",
               fixed = TRUE)
  expect_error(denovo_signatures(mm, ranks = 2, nrun = 0, verbose = FALSE),
               "nrun = 0 is out of range; expected an integer >= 1.", fixed = TRUE)
  expect_error(denovo_signatures(mm, ranks = 2, normalization = "rank"),
               "normalization = \"rank\" is not valid; expected one of \"gmm\", \"log2\", \"none\".",
               fixed = TRUE)
  expect_error(denovo_signatures(mm, ranks = 2, resample = NA),
               "resample = NA is not valid; expected TRUE or FALSE.", fixed = TRUE)
  expect_error(denovo_signatures(mm, ranks = 2, device = "tpu"),
               "device = \"tpu\" is not valid; expected \"auto\", \"cpu\", \"cuda\" or \"cuda:N\".",
               fixed = TRUE)
  expect_error(denovo_signatures(mm, ranks = 2, model = "convex", loss = "kl", verbose = FALSE),
               "loss = \"kl\" is not available for model = \"convex\"", fixed = TRUE)
  error <- tryCatch(denovo_signatures(mm, ranks = 2, nrun = 2, reference = "COSMIC_v9",
                                      verbose = FALSE), error = function(e) e)
  expect_match(conditionMessage(error), "reference = \"COSMIC_v9\" is neither a file nor a known name",
               fixed = TRUE)
  expect_false(grepl("Traceback|Error", conditionMessage(error)))
  expect_null(conditionCall(error))
  se <- SummarizedExperiment::SummarizedExperiment(assays = list(counts = mm))
  expect_error(denovo_signatures(se, ranks = 2, assay = "normalized"),
               "assay = \"normalized\" is not an assay of mut_matrix; expected one of \"counts\".",
               fixed = TRUE)
  with_na <- mm
  with_na[2, 3] <- NA
  expect_error(denovo_signatures(with_na, ranks = 2),
               "mut_matrix has 1 missing (NA) value(s), first in sample 'PD3851a', mutation type 'A[C>A]C'; expected counts.",
               fixed = TRUE)
})

test_that("scheduler = \"local\" runs on a Dask cluster started from R and gives the same bits", {
  # Catches the argument not reaching the engine, and workers started with R's library path
  # (which holds the system's libpython: from R, no worker ever started).
  skip_if_no_engine()
  local <- quick_denovo(breast21(), scheduler = "local")
  expect_identical(local$settings$arguments$scheduler, "local")
  expect_identical(local$signatures, example_denovo()$signatures)
  expect_identical(local$contribution, example_denovo()$contribution)
})

test_that("a scheduler that is not one string or a client is refused in R's words", {
  # Catches NA reaching Python as True ("scheduler = TRUE is not valid") and 3 shown as 3.0.
  skip_if_no_engine()
  for (bad in list(NA, 3, "", c("local", "local"))) {
    expect_error(denovo_signatures(breast21(), ranks = 2:3, nrun = 2, scheduler = bad, verbose = FALSE),
                 sprintf("scheduler = %s is not valid; expected NULL (this R session), \"local\"",
                         paste(deparse(bad), collapse = " ")), fixed = TRUE)
  }
})

test_that("compare_rank_rules = TRUE adds every rule's evidence, and only then", {
  # Catches the argument ignored (no BCV/BIC columns) or the evidence computed by default.
  skip_if_no_engine()
  compared <- quick_denovo(breast21(), compare_rank_rules = TRUE)
  expect_true(all(c("bcv_error", "bcv_se", "bic", "chosen_by_bcv", "chosen_by_bic") %in%
                    names(compared$stats)))
  expect_false(any(c("bcv_error", "bic") %in% names(example_denovo()$stats)))
  expect_identical(compared$rank, example_denovo()$rank)
  expect_error(quick_denovo(breast21(), compare_rank_rules = NA),
               "compare_rank_rules", fixed = TRUE)
})
