# A small comparison (3 splits, 200 iterations, "fast" settings) keeps these quick; the engine's
# own tests cover the protocol.

quick_compare <- function(...) {
  mm <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
  suppressWarnings(compare_models(mm, rank = 3, n_splits = 3, settings = "fast", max_iter = 200,
                                  seed = 1, verbose = FALSE, ...))
}

test_that("the tables come as data.frames, equal to the Python API's for one seed", {
  skip_if_no_engine()
  cmp <- quick_compare()
  expect_s3_class(cmp, "sigfactor_comparison")
  for (table in c("runs", "consistency", "pairwise", "cosmic_per_run", "consensus",
                  "agreement", "splits", "signatures")) {
    expect_s3_class(cmp[[table]], "data.frame")
  }
  expect_identical(nrow(cmp$runs), 9L)
  expect_setequal(cmp$runs$model, c("nmf", "convex", "aenmf"))
  expect_type(cmp$runs$converged, "logical")
  expect_identical(sort(unique(cmp$splits$set)), c("test", "train"))
  # The same comparison made by the Python API directly: identical numbers.
  mm <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
  warnings <- reticulate::import("warnings", convert = FALSE)
  with(warnings$catch_warnings(), {
    warnings$simplefilter("ignore")
    theirs <- python_engine()$compare_models(pandas_frame(mm), 3L, n_splits = 3L,
                                             settings = "fast", max_iter = 200L, seed = 1L,
                                             progress = FALSE)
  })
  expect_identical(cmp$runs$test_error,
                   as.numeric(reticulate::py_to_r(theirs$runs[["test_error"]]$tolist())))
  expect_identical(cmp$consistency$mean,
                   as.numeric(reticulate::py_to_r(theirs$consistency[["mean"]]$tolist())))
  # Consensus signatures: one matrix per model, MutationalPatterns' rows, the engine's values.
  expect_named(cmp$consensus_signatures, c("nmf", "convex", "aenmf"))
  nmf <- cmp$consensus_signatures$nmf
  expect_identical(rownames(nmf), rownames(example_mut_matrix()))
  expect_identical(nmf, t(frame_matrix(theirs$consensus_signatures$loc["nmf"]))[rownames(nmf), ])
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  print(MutationalPatterns::plot_96_profile(nmf))
  expect_match(cmp$summary, "# sigfactor compare", fixed = TRUE)
  expect_identical(cmp$settings$rank, 3L)
  expect_null(cmp$figures)
  expect_match(capture.output(print(cmp))[1], "rank 3, 3 splits", fixed = TRUE)
})

test_that("train_fraction, n_splits and seed reach the engine", {
  # Catches an argument dropped between R and the engine: 0.6 of 21 samples is 13 training and
  # 8 test samples per split (the default 0.8 gives 17 and 4), and another seed other splits.
  skip_if_no_engine()
  cmp <- quick_compare(models = "nmf", train_fraction = 0.6)
  expect_identical(cmp$settings$train_fraction, 0.6)
  sizes <- table(cmp$splits$split, cmp$splits$set)
  expect_identical(unname(sizes[, "train"]), rep(13L, 3))
  expect_identical(unname(sizes[, "test"]), rep(8L, 3))
  expect_identical(nrow(sizes), 3L)
  mm <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
  other <- suppressWarnings(compare_models(mm, rank = 3, models = "nmf", n_splits = 3, settings = "fast",
                                           max_iter = 200, seed = 2, train_fraction = 0.6,
                                           verbose = FALSE))
  expect_false(identical(other$splits, cmp$splits))
})

test_that("figures on request: out = writes the tables and, with plots, the figures", {
  skip_if_no_engine()
  out <- tempfile("compare-")
  cmp <- quick_compare(models = c("nmf", "convex"), out = out)
  expect_setequal(basename(cmp$figures),
                  c("heldout_error.png", "consistency.png", "cosmic_matches.png"))
  expect_true(all(file.size(cmp$figures) > 1000))
  runs <- utils::read.csv(file.path(out, "runs.csv"))
  expect_equal(runs$test_error, cmp$runs$test_error, tolerance = 1e-12)
  bare <- quick_compare(models = "nmf", out = tempfile("compare-"), plots = FALSE)
  expect_length(bare$figures, 0)
  expect_true(file.exists(file.path(bare$out, "summary.md")))
})

test_that("bad arguments are refused in R's words", {
  skip_if_no_engine()
  mm <- example_mut_matrix()
  expect_error(compare_models(mm, rank = 2, models = c("nmf", "pca")),
               "models = c(\"nmf\", \"pca\") is not valid; expected distinct values among \"nmf\", \"convex\", \"aenmf\".",
               fixed = TRUE)
  expect_error(compare_models(mm, rank = 2, settings = "slow"),
               "settings = \"slow\" is not valid; expected one of \"paper\", \"paper-linear\", \"fast\".",
               fixed = TRUE)
  expect_error(compare_models(mm, rank = 2, n_splits = 1, verbose = FALSE),
               "n_splits = 1 is out of range", fixed = TRUE)
  expect_error(compare_models(t(mm), rank = 2), "pass t(mut_matrix).", fixed = TRUE)
})

test_that("settings = \"paper-linear\" reaches the engine (AE-NMF from nn.Linear magnitudes)", {
  skip_if_no_engine()
  mm <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
  cmp <- suppressWarnings(compare_models(mm, rank = 3, models = "aenmf", n_splits = 2,
                                         settings = "paper-linear", max_iter = 20, seed = 1,
                                         verbose = FALSE))
  expect_identical(cmp$settings$settings, "paper-linear")
  expect_identical(cmp$settings$model_settings$aenmf$init, "linear")
})

test_that("scheduler = \"local\" fits on a Dask cluster started from R, equal to in-process", {
  # Catches the argument not reaching the engine (settings say "in-process"), and splits or seeds
  # given to the wrong run on the workers (held-out errors would differ far beyond rounding; the
  # workers fit one split per task where this session fits both as one batch, hence a tolerance).
  skip_if_no_engine()
  mm <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
  two <- function(...) {
    suppressWarnings(compare_models(mm, rank = 3, models = c("nmf", "convex"), n_splits = 2,
                                    settings = "fast", max_iter = 50, seed = 1, verbose = FALSE, ...))
  }
  here <- two()
  there <- two(scheduler = "local")
  expect_identical(here$settings$scheduler, "in-process")
  expect_identical(there$settings$scheduler, "local")
  exact <- c("split", "model", "seed", "n_iter", "converged")
  expect_identical(there$runs[exact], here$runs[exact])
  for (column in c("train_loss", "test_error", "test_error_kl")) {
    expect_equal(there$runs[[column]], here$runs[[column]], tolerance = 1e-5, info = column)
  }
  expect_equal(there$consensus_signatures, here$consensus_signatures, tolerance = 1e-5)
  expect_error(two(scheduler = "nowhere"), "scheduler = \"nowhere\" is not valid", fixed = TRUE)
})

test_that("a scheduler that is not one string or a client is refused in R's words", {
  # Catches NA reaching Python as True ("scheduler = TRUE is not valid") and 3 shown as 3.0.
  skip_if_no_engine()
  mm <- read_catalogue(system.file("extdata", "breast21_SBS96.txt", package = "sigfactor"))
  for (bad in list(NA, 3, "", c("local", "local"))) {
    expect_error(compare_models(mm, rank = 3, scheduler = bad, verbose = FALSE),
                 sprintf("scheduler = %s is not valid; expected NULL (this R session), \"local\"",
                         paste(deparse(bad), collapse = " ")), fixed = TRUE)
  }
})
