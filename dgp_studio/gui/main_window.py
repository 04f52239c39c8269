"""The editor window: wires photos, canvas, panels, workers and the session cache together.

Data flow: photo + mask + preset -> ``pipeline.build_job`` -> ``ReconstructionWorker`` ->
result in ``SessionCache`` -> canvas / timeline / manipulation views.  Runs whose key is in the
disk ``ResultCache`` (run_cache.py) skip the optimisation; projects (project_actions.py,
project_io.py) and autosave (autosave.py) persist a photo's whole state; Tools > Models… is
model_dialog.py.
"""
from __future__ import annotations

import html
import threading
import time
from pathlib import Path

from PIL import Image
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor
from PySide6.QtWidgets import (QApplication, QButtonGroup, QColorDialog, QDockWidget, QFileDialog, QHBoxLayout,
                               QLabel, QMainWindow, QMenu, QMessageBox, QSlider, QSpinBox, QStackedWidget, QTabBar,
                               QToolBar, QToolButton, QVBoxLayout, QWidget)

from dgp_studio.core import intake
from dgp_studio.core.errors import friendly_error
from dgp_studio.core.export import RESULT_FORMATS
from dgp_studio.core.imaging import to_pil
from dgp_studio.core.restore import colours_from_searched_class
from dgp_studio.core.sheets import VIEW_SIZE, enlarge, frame_path, grid_sheet, write_frames, write_gif

from . import clipboard, icons, pipeline, run_cache, settings, shortcuts
from .autosave import CHOICES as AUTOSAVE_CHOICES, AutosaveManager
from .canvas import Canvas, Tool
from .document import Document
from .export import (EXPORT_FILTER, OPEN_FILTER, OPEN_SUFFIXES, atomic_save, default_export_name, same_file)
from .imageconv import pil_to_qimage, qimage_to_pil, tensor_to_qimage
from .manip_panel import ManipPanel
from .project_actions import ProjectActions
from .project_io import is_project_path
from .render_worker import RenderWorker
from .session_cache import CacheEntry, SessionCache
from .status_bar import StatusBar
from .task_panel import TaskPanel
from .timeline import TimelinePanel, export_gif, export_sheet
from .worker import ReconstructionWorker, configure_threads

NO_MODEL_HELP = (
    "<b>No generative model loaded.</b> {reason}<br><br>"
    "DGP Studio looks for the bundled prior in <code>models/dgp-prior-64</code>. You can also start it with "
    "<code>dgp-studio --model PATH</code> (a folder with G/D checkpoints, e.g. the released BigGAN "
    "weights), set <code>DGP_STUDIO_MODEL=PATH</code>, or use <b>File → Load model…</b>. "
    "<code>dgp-studio models</code> lists what is installed. You can still open photos and paint masks.")


def _with_alpha(img: Image.Image, doc: Document) -> Image.Image:
    """The photo's transparency, re-attached to its full-size result (a copy; ``img`` as is otherwise)."""
    if doc.alpha is None or img.size != doc.alpha.size:
        return img
    img = img.copy()
    img.putalpha(doc.alpha)
    return img


def _sentence(text: str) -> str:
    """A one-line engine message ('cannot write ...') as a sentence for the status bar or a box."""
    return text[:1].upper() + text[1:] + "."


# the morph export dialog's file types and the layout each one writes
MORPH_LAYOUTS = {"GIF, there and back (*.gif)": "gif", "PNG frames (*.png)": "frames",
                 "Side-by-side strip, A to B (*.png *.jpg *.webp)": "strip"}


class MainWindow(QMainWindow):
    _modelReady = Signal(object)

    def __init__(self, model_path=None, device: str | None = None, load_async: bool = True,
                 theme_choice: str = "system", result_cache=None):
        """``result_cache``: a ``core.cache.ResultCache`` shared with other windows/processes
        (default: the user's disk cache; False: none)."""
        super().__init__()
        self.setWindowTitle("DGP Studio")
        self.setAcceptDrops(True)
        self.resize(1440, 900)
        self.gan = None
        self.renderer = None
        self.model_path = model_path
        self.model_error: str | None = None
        self.device = device
        self.theme_choice = theme_choice
        self.docs: list[Document] = []
        self.current: Document | None = None
        self.cache = SessionCache()
        self.result_cache = run_cache.open_result_cache() if result_cache is None else (result_cache or None)
        self.optimise_calls = 0            # runs that really optimised (cache hits and projects do not)
        self.worker: ReconstructionWorker | None = None
        self._run_kind = "restore"
        self._run_doc: Document | None = None
        self._run_t0 = 0.0
        self.render_worker = RenderWorker(self)
        self.render_worker.rendered.connect(self._on_rendered)
        self.render_worker.failed.connect(lambda ch, rid, msg: self.statusBar().showMessage(f"Render failed: {msg}"))
        self.confirm = self._confirm_dialog        # replaced in tests
        self._closing = False
        self.actions: dict[str, QAction] = {}
        self._modelReady.connect(self._on_model_ready)
        self.projects = ProjectActions(self)       # File > Open/Save Project, the project writer thread
        self.autosave = AutosaveManager(self, self.projects.background)
        self._build()
        self._restore_layout()
        self._update_enabled()
        self.load_model(model_path, device, wait=not load_async)

    # == construction ===================================================================================
    def _build(self) -> None:
        self._make_actions()
        self._make_menus()
        self.status = StatusBar(self)
        self.setStatusBar(self.status)

        # centre: photo tabs, then the canvas or the manipulation view
        centre = QWidget()
        cl = QVBoxLayout(centre)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        self.tabs = QTabBar()
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(False)
        self.tabs.setDocumentMode(True)
        self.tabs.setExpanding(False)
        self.tabs.currentChanged.connect(self._on_tab)
        self.tabs.tabCloseRequested.connect(lambda i: self.close_document(self.docs[i]))
        cl.addWidget(self.tabs)
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextFormat(Qt.RichText)
        self.banner.setVisible(False)
        cl.addWidget(self.banner)
        self.stack = QStackedWidget()
        self.canvas = Canvas()
        self.canvas.regionChanged.connect(self._on_region)
        self.canvas.zoomChanged.connect(lambda z: self.status.set_zoom(z))
        self.canvas.hoverInfo.connect(lambda t: self.status.set_hover(t))
        self.canvas.filesDropped.connect(self.open_paths)
        self.canvas.brushChanged.connect(self._sync_brush_widgets)
        self.canvas.toolChanged.connect(self._sync_tool_buttons)
        self.manip = ManipPanel(self._render_source)
        self.manip.exportImagesRequested.connect(self._export_images)
        self.manip.exportMorphRequested.connect(self.export_morph)
        self.manip.reconstructRequested.connect(self.reconstruct_partner)
        self.manip.diverseRequested.connect(self.run_diverse)
        self.manip.diversePicked.connect(self.pick_diverse)
        self.manip.openSecondRequested.connect(self.open_second)
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.manip)
        cl.addWidget(self.stack, 1)
        self.setCentralWidget(centre)

        self._make_toolbars()

        # right: the task panel
        self.task_panel = TaskPanel()
        self.task_panel.runRequested.connect(self.run_restoration)
        self.task_panel.pauseToggled.connect(self.set_paused)
        self.task_panel.cancelRequested.connect(self.cancel_run)
        self.task_panel.taskChanged.connect(self._on_task_changed)
        self.task_panel.sr_factor.currentIndexChanged.connect(lambda _i: self._on_task_changed(""))
        self.task_panel.setMinimumWidth(370)
        self.task_dock = QDockWidget("Restore", self)
        self.task_dock.setObjectName("restore_dock")
        self.task_dock.setWidget(self.task_panel)
        self.task_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.RightDockWidgetArea, self.task_dock)

        # bottom: the timeline
        self.timeline = TimelinePanel()
        self.timeline.snapshotShown.connect(self._on_snapshot_shown)
        self.timeline.exportGifRequested.connect(lambda: self.export_timeline("gif"))
        self.timeline.exportSheetRequested.connect(lambda: self.export_timeline("sheet"))
        self.timeline_dock = QDockWidget("Timeline", self)
        self.timeline_dock.setObjectName("timeline_dock")
        self.timeline_dock.setWidget(self.timeline)
        self.timeline_dock.setFeatures(QDockWidget.DockWidgetMovable | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(Qt.BottomDockWidgetArea, self.timeline_dock)
        self.resizeDocks([self.timeline_dock], [260], Qt.Vertical)
        self.resizeDocks([self.task_dock], [390], Qt.Horizontal)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.task_dock.toggleViewAction())
        self.view_menu.addAction(self.timeline_dock.toggleViewAction())

    def _act(self, key: str, slot, icon_name: str | None = None, checkable: bool = False, text: str | None = None):
        group, label, _keys = shortcuts.SHORTCUTS.get(key, ("", text or key, ()))
        a = QAction(text or label, self)
        if key in shortcuts.SHORTCUTS:
            a.setShortcuts(shortcuts.keys(key))
            seq = shortcuts.native(shortcuts.SHORTCUTS[key][2][0])
            a.setToolTip(f"{text or label} ({seq})")
        a.setCheckable(checkable)
        if icon_name:
            icons.bind(a, icon_name)
        a.triggered.connect(slot)
        self.addAction(a)  # shortcuts work whichever panel has the focus
        self.actions[key] = a
        return a

    def _make_actions(self) -> None:
        A = self._act
        A("open", lambda: self.open_dialog(), "mdi6.folder-open-outline")
        A("export", lambda: self.export_result(), "mdi6.export-variant")
        A("close", lambda: self.current and self.close_document(self.current), "mdi6.close")
        A("quit", self.close)
        A("copy", self.copy_result, "mdi6.content-copy", text="Copy result")
        A("paste", self.paste, "mdi6.content-paste", text="Paste as a new photo")
        A("undo", self.undo, "mdi6.undo")
        A("redo", self.redo, "mdi6.redo")
        self.tool_actions = {}
        group = QActionGroup(self)
        for key, tool, icon_name in (("tool_region", Tool.REGION, "mdi6.crop-square"),
                                     ("tool_brush", Tool.BRUSH, "mdi6.brush"),
                                     ("tool_eraser", Tool.ERASER, "mdi6.eraser"),
                                     ("tool_rect", Tool.RECT, "mdi6.vector-square"),
                                     ("tool_bucket", Tool.BUCKET, "mdi6.format-color-fill"),
                                     ("tool_pan", Tool.PAN, "mdi6.hand-back-right-outline")):
            a = A(key, lambda _c=False, t=tool: self.set_tool(t), icon_name, checkable=True)
            group.addAction(a)
            self.tool_actions[tool] = a
        self.tool_actions[Tool.REGION].setChecked(True)
        A("brush_smaller", lambda: self.canvas.set_brush_size(self._brush() / 1.2))
        A("brush_bigger", lambda: self.canvas.set_brush_size(self._brush() * 1.2))
        A("brush_softer", lambda: self.set_hardness(self._hardness() - 0.1))
        A("brush_harder", lambda: self.set_hardness(self._hardness() + 0.1))
        A("mask_fill", lambda: self.current and self.current.mask.fill_all(), "mdi6.square-rounded")
        A("mask_clear", lambda: self.current and self.current.mask.clear(), "mdi6.delete-sweep-outline")
        A("mask_invert", lambda: self.current and self.current.mask.invert(), "mdi6.invert-colors")
        A("zoom_in", lambda: self.canvas.zoom_in(), "mdi6.magnify-plus-outline")
        A("zoom_out", lambda: self.canvas.zoom_out(), "mdi6.magnify-minus-outline")
        A("zoom_fit", lambda: self.canvas.fit(), "mdi6.fit-to-screen-outline")
        A("zoom_100", lambda: self.canvas.actual_size(), "mdi6.numeric-1-box-outline")
        A("zoom_region", lambda: self.canvas.fit_region(), "mdi6.image-filter-center-focus")
        A("compare", lambda on: self.set_compare(on), "mdi6.compare-horizontal", checkable=True)
        A("mode_restore", lambda: self.set_mode(0), "mdi6.image-edit-outline")
        A("mode_manip", lambda: self.set_mode(1), "mdi6.auto-fix")
        A("next_doc", lambda: self._cycle_doc(1))
        A("prev_doc", lambda: self._cycle_doc(-1))
        A("run", self.run_restoration, "mdi6.play")
        A("pause", lambda: self.task_panel.pause_btn.toggle(), "mdi6.pause")
        A("cancel", self.cancel_run, "mdi6.stop")
        A("timeline_latest", lambda: self.timeline.go_latest())
        A("help", self.show_shortcuts, "mdi6.keyboard-outline")
        self.load_model_action = QAction("Load model…", self)
        self.load_model_action.triggered.connect(self.load_model_dialog)
        self.load_mask_action = QAction("Load mask…", self)
        icons.bind(self.load_mask_action, "mdi6.folder-open-outline")
        self.load_mask_action.triggered.connect(self.load_mask_dialog)
        self.save_mask_action = QAction("Save mask…", self)
        icons.bind(self.save_mask_action, "mdi6.content-save-outline")
        self.save_mask_action.triggered.connect(self.save_mask_dialog)
        self.gif_action = QAction("Export timeline as GIF…", self)
        self.gif_action.triggered.connect(lambda: self.export_timeline("gif"))
        self.sheet_action = QAction("Export timeline as image sheet…", self)
        self.sheet_action.triggered.connect(lambda: self.export_timeline("sheet"))

    def _make_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.actions["open"])
        f.addAction(self.projects.open_action)
        self.recent_menu = f.addMenu("Open recent")
        self._fill_recent()
        f.addSeparator()
        f.addAction(self.projects.save_action)
        f.addAction(self.projects.save_as_action)
        am = self.autosave_menu = f.addMenu("Autosave")
        ag = QActionGroup(self)
        self.autosave_actions = {}
        for m in AUTOSAVE_CHOICES:
            a = QAction("Off" if m == 0 else f"Every {m} minute{'s' if m != 1 else ''}", self, checkable=True)
            a.setChecked(abs(self.autosave.minutes - m) < 1e-6)
            a.triggered.connect(lambda _c=False, m=m: self.autosave.set_interval(m))
            ag.addAction(a)
            am.addAction(a)
            self.autosave_actions[m] = a
        f.addSeparator()
        f.addAction(self.actions["export"])
        f.addAction(self.gif_action)
        f.addAction(self.sheet_action)
        f.addSeparator()
        f.addAction(self.load_mask_action)
        f.addAction(self.save_mask_action)
        f.addSeparator()
        f.addAction(self.load_model_action)
        f.addSeparator()
        f.addAction(self.actions["close"])
        f.addAction(self.actions["quit"])
        e = mb.addMenu("&Edit")
        for k in ("undo", "redo"):
            e.addAction(self.actions[k])
        e.addSeparator()
        for k in ("copy", "paste"):
            e.addAction(self.actions[k])
        e.addSeparator()
        for k in ("mask_fill", "mask_clear", "mask_invert"):
            e.addAction(self.actions[k])
        t = mb.addMenu("&Tools")
        for a in self.tool_actions.values():
            t.addAction(a)
        t.addSeparator()
        for k in ("brush_smaller", "brush_bigger", "brush_softer", "brush_harder"):
            t.addAction(self.actions[k])
        t.addSeparator()
        self.models_action = QAction("Models…", self)
        icons.bind(self.models_action, "mdi6.cube-outline")
        self.models_action.setToolTip("Installed models: add, check, remove, download, switch")
        self.models_action.triggered.connect(lambda: self.show_models())
        t.addAction(self.models_action)
        v = self.view_menu = mb.addMenu("&View")
        for k in ("mode_restore", "mode_manip", None, "zoom_in", "zoom_out", "zoom_fit", "zoom_100", "zoom_region",
                  None, "compare", None, "next_doc", "prev_doc"):
            v.addSeparator() if k is None else v.addAction(self.actions[k])
        v.addSeparator()
        tm = v.addMenu("Theme")
        tg = QActionGroup(self)
        self.theme_actions = {}
        for key, label in (("system", "Follow the system"), ("light", "Light"), ("dark", "Dark")):
            a = QAction(label, self, checkable=True)
            a.setChecked(key == self.theme_choice)
            a.triggered.connect(lambda _c=False, k=key: self.set_theme(k))
            tg.addAction(a)
            tm.addAction(a)
            self.theme_actions[key] = a
        r = mb.addMenu("&Run")
        for k in ("run", "pause", "cancel", "timeline_latest"):
            r.addAction(self.actions[k])
        h = mb.addMenu("&Help")
        h.addAction(self.actions["help"])
        about = QAction("About DGP Studio", self)
        about.triggered.connect(self._about)
        h.addAction(about)

    def _make_toolbars(self) -> None:
        tools = QToolBar("Tools", self)
        tools.setObjectName("tools")
        tools.setIconSize(QSize(22, 22))
        tools.setMovable(False)
        for a in self.tool_actions.values():
            tools.addAction(a)
        tools.addSeparator()
        tools.addAction(self.actions["undo"])
        tools.addAction(self.actions["redo"])
        self.addToolBar(Qt.LeftToolBarArea, tools)

        bar = QToolBar("Options", self)
        bar.setObjectName("options")
        bar.setMovable(False)
        bar.setIconSize(QSize(18, 18))
        self.mode_group = QButtonGroup(self)
        for i, (label, icon_name) in enumerate((("Restore", "mdi6.image-edit-outline"),
                                                ("Manipulate", "mdi6.auto-fix"))):
            b = QToolButton()
            b.setText(label)
            b.setCheckable(True)
            b.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
            b.setObjectName("mode")
            icons.bind(b, icon_name)
            b.setToolTip(f"{label} view (Ctrl+{i + 1})")
            self.mode_group.addButton(b, i)
            bar.addWidget(b)
        self.mode_group.button(0).setChecked(True)
        self.mode_group.idClicked.connect(self.set_mode)
        bar.addSeparator()
        # brush options
        self.brush_box = QWidget()
        bl = QHBoxLayout(self.brush_box)
        bl.setContentsMargins(4, 0, 4, 0)
        bl.addWidget(QLabel("Size"))
        self.size_slider = QSlider(Qt.Horizontal)
        self.size_slider.setRange(1, 600)
        self.size_slider.setFixedWidth(120)
        self.size_slider.setToolTip("Brush diameter in photo pixels ( [ and ] )")
        self.size_spin = QSpinBox()
        self.size_spin.setRange(1, 2000)
        self.size_spin.setSuffix(" px")
        self.size_slider.valueChanged.connect(lambda v: self.canvas.set_brush_size(v))
        self.size_spin.valueChanged.connect(lambda v: self.canvas.set_brush_size(v))
        bl.addWidget(self.size_slider)
        bl.addWidget(self.size_spin)
        bl.addSpacing(8)
        bl.addWidget(QLabel("Hardness"))
        self.hard_slider = QSlider(Qt.Horizontal)
        self.hard_slider.setRange(0, 100)
        self.hard_slider.setValue(80)
        self.hard_slider.setFixedWidth(90)
        self.hard_slider.setToolTip("Soft (0) to hard (100) brush edge ( { and } )")
        self.hard_slider.valueChanged.connect(lambda v: self.set_hardness(v / 100))
        bl.addWidget(self.hard_slider)
        self.colour_btn = QToolButton()
        self.colour_btn.setToolTip("Mask overlay colour")
        self.colour_btn.clicked.connect(self.choose_mask_colour)
        bl.addWidget(self.colour_btn)
        self.canvas_only = [bar.addWidget(self.brush_box)]
        mask_menu = QToolButton()
        mask_menu.setText("Mask")
        mask_menu.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        icons.bind(mask_menu, "mdi6.layers-outline")
        mask_menu.setPopupMode(QToolButton.InstantPopup)
        mm = QMenu(mask_menu)
        for k in ("mask_fill", "mask_clear", "mask_invert"):
            mm.addAction(self.actions[k])
        mm.addSeparator()
        mm.addAction(self.load_mask_action)
        mm.addAction(self.save_mask_action)
        mask_menu.setMenu(mm)
        self.canvas_only.append(bar.addWidget(mask_menu))
        self.canvas_only.append(bar.addSeparator())
        for k in ("zoom_out", "zoom_in", "zoom_fit", "zoom_100", "zoom_region", None, "compare"):
            if k is None:
                self.canvas_only.append(bar.addSeparator())
            else:
                bar.addAction(self.actions[k])
                self.canvas_only.append(self.actions[k])
        self.split_slider = QSlider(Qt.Horizontal)
        self.split_slider.setRange(0, 100)
        self.split_slider.setValue(50)
        self.split_slider.setFixedWidth(110)
        self.split_slider.setToolTip("Before / after split position")
        self.split_slider.valueChanged.connect(lambda v: self.canvas.set_split(v / 100))
        self.canvas_only.append(bar.addWidget(self.split_slider))
        self.hold_btn = QToolButton()
        self.hold_btn.setText("Original")
        self.hold_btn.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.hold_btn.setToolTip("Hold to see the original (or hold \\ on the canvas)")
        icons.bind(self.hold_btn, "mdi6.eye-outline")
        self.hold_btn.pressed.connect(lambda: self.canvas.show_original(True))
        self.hold_btn.released.connect(lambda: self.canvas.show_original(False))
        self.canvas_only.append(bar.addWidget(self.hold_btn))
        spacer = QWidget()
        spacer.setSizePolicy(spacer.sizePolicy().horizontalPolicy().Expanding,
                             spacer.sizePolicy().verticalPolicy().Preferred)
        bar.addWidget(spacer)
        bar.addAction(self.actions["open"])
        bar.addAction(self.actions["export"])
        bar.addAction(self.actions["help"])
        self.addToolBar(Qt.TopToolBarArea, bar)
        self._sync_colour_button()

    # == model ============================================================================================
    def load_model(self, path=None, device=None, wait: bool = False) -> None:
        """Load in a background thread (``wait`` blocks, for tests and scripts)."""
        self.status.showMessage("Loading the model…")
        self.status.set_model("loading…")

        def work():
            from dgp_studio.core.checkpoint import CheckpointError, load_biggan, require_discriminator
            from dgp_studio.core.manipulate import Renderer
            import torch
            dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
            try:
                gan = load_biggan(path, device=dev)
                require_discriminator(gan)  # the editor's work starts with a restore
                renderer = Renderer(gan)
                from dgp_studio.core.cache import model_id
                model_id(gan)  # hashes the weights once, here rather than at the first run on the UI thread
                self._modelReady.emit((gan, renderer, None, dev))
            except (CheckpointError, OSError, ValueError, RuntimeError) as e:
                self._modelReady.emit((None, None, str(e), dev))

        if wait:
            work()
            from PySide6.QtCore import QCoreApplication
            QCoreApplication.processEvents()
        else:
            threading.Thread(target=work, daemon=True, name="dgp-model-loader").start()

    def _on_model_ready(self, payload) -> None:
        gan, renderer, error, dev = payload
        self.gan, self.renderer, self.model_error = gan, renderer, error
        self.device = dev
        self.status.set_device(dev)
        if gan is None:
            self.status.set_model("no model")
            self.banner.setText(NO_MODEL_HELP.format(reason=html.escape(error or "")))  # 'D_<suffix>.pth' is no tag
            self.banner.setVisible(True)
            self.status.showMessage("No model: see the note above the canvas", 8000)
        else:
            c = gan.config
            self.status.set_model(f"{gan.name} · {c.resolution} px · {c.n_classes} classes")
            self.banner.setVisible(False)
            self.task_panel.set_model(gan)
            from dgp_studio.core.classes import class_names
            self.manip.set_classes(class_names(c))
            self.status.showMessage(f"Model {gan.name} ready on {dev}", 5000)
            self._sync_canvas_model_input()
            self.cache = SessionCache()  # results of another model cannot be manipulated with this one
            self.projects.attach_all()   # ... but opened projects' results that fit this one come back
        self._update_enabled()
        self._refresh_manip()

    def load_model_dialog(self) -> None:
        if self.worker is not None:
            self.show_error("Wait for the running restoration (or cancel it) before changing the model.")
            return
        folder = QFileDialog.getExistingDirectory(self, "Model folder (G and D checkpoints)")
        if folder:
            self.model_path = folder
            self.load_model(folder, None)

    def show_models(self):
        """Tools > Models…: list, add, check, remove, download; "Use this model" switches."""
        from .model_dialog import ModelsDialog
        from dgp_studio.core.models import default_model_path
        try:
            active = self.model_path or default_model_path()
        except Exception:  # noqa: BLE001
            active = self.model_path
        try:
            dlg = ModelsDialog(self, active_path=active)
        except Exception as e:  # noqa: BLE001 - a damaged registry file, an unreadable folder
            self.show_error(friendly_error(e))
            return None
        dlg.modelChosen.connect(self.use_model)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        self.models_dialog = dlg
        dlg.open()
        return dlg

    def use_model(self, path, name: str | None = None) -> bool:
        """Switch the active model (remembered for the next start)."""
        if self.worker is not None:
            self.show_error("Wait for the running restoration (or cancel it) before changing the model.")
            return False
        self.model_path = str(path)
        settings.set_value("model/active", name or str(path))
        self.load_model(path, None)
        return True

    def _render_source(self):
        if self.gan is None:
            return None
        return self.gan, self.renderer, self.render_worker

    # == documents ========================================================================================
    def open_dialog(self) -> None:
        start = settings.value("last_dir", str(Path.home()))
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open photos or projects", start,
            OPEN_FILTER.replace(")", " *.dgp)", 1) + ";;DGP Studio projects (*.dgp)")
        if paths:
            settings.set_value("last_dir", str(Path(paths[0]).parent))
            self.open_paths(paths)

    def open_paths(self, paths, activate: bool = True) -> list[Document]:
        opened, errors = [], []
        for p in paths:
            p = Path(p)
            if is_project_path(p) and not p.is_dir():  # a missing one: projects.open says so
                doc = self.projects.open(p, activate=activate)
                if doc is not None:
                    opened.append(doc)
                continue
            if p.is_dir():
                errors.append(f"{p.name}: is a folder (batch restore is 'dgp-studio restore DIR')")
                continue
            if p.suffix.lower() not in OPEN_SUFFIXES:
                errors.append(f"{p.name}: not a PNG, JPEG, WebP, TIFF, BMP or GIF file, nor a .dgp project")
                continue
            try:
                doc = Document.open(p)
            except Exception as e:  # noqa: BLE001 - any unreadable file becomes a message
                why = friendly_error(e)
                errors.append(why.replace(str(p), p.name, 1) if str(p) in why else f"{p.name}: {why}")
                continue
            opened.append(doc)
            self._add_document(doc, activate=activate)
            settings.push_recent("recent_files", str(p.resolve()))
        self._fill_recent()
        if errors:
            self.show_error("Some files were not opened:\n" + "\n".join(errors))
        return opened

    def add_image(self, image: Image.Image) -> Document | None:
        """A photo without a file (pasted): read like a file's pixels (alpha, modes, size limit)."""
        try:
            doc = Document.from_intake(intake.open_image(image))
        except Exception as e:  # noqa: BLE001 - a refused image becomes a message
            self.show_error(f"The pasted image was not opened: {friendly_error(e)}")
            return None
        self._add_document(doc)
        return doc

    def paste(self) -> list[Document]:
        """Ctrl+V: files copied in a file manager open as files; image data opens as a new,
        untitled photo (export or save it as a project to keep it)."""
        kind, what = clipboard.pasted(QApplication.clipboard().mimeData())
        if kind == "files":
            return self.open_paths(what)
        if kind == "image":
            doc = self.add_image(what)
            if doc is not None:
                self.status.showMessage(f"Pasted as {doc.name} ({doc.size[0]} × {doc.size[1]})", 6000)
            return [doc] if doc is not None else []
        self.show_error("The clipboard holds no image: copy an image or a photo's file first.")
        return []

    def copy_result(self) -> bool:
        """Ctrl+C: the full-size result on screen, with the photo's transparency, to the clipboard."""
        doc = self.current
        img = self.result_image(doc) if doc is not None else None
        if img is None:
            self.show_error("Nothing to copy yet: run a restoration first (Ctrl+R).")
            return False
        img = _with_alpha(img, doc)
        clipboard.copy_image(img)
        self.status.showMessage(f"Copied the result ({img.width} × {img.height})", 4000)
        return True

    def _add_document(self, doc: Document, activate: bool = True) -> None:
        self.docs.append(doc)
        # bound methods (not lambdas): Qt drops these connections when the window goes away
        doc.mask.undo_stack.indexChanged.connect(self._on_undo_index)
        i = self.tabs.addTab(doc.name)
        self.tabs.setTabToolTip(i, str(doc.path) if doc.path else doc.name)
        if activate or self.current is None:
            self.tabs.setCurrentIndex(i)  # -> _on_tab
            if doc.is_grayscale():
                self.task_panel.set_task("colorization")
                self.status.showMessage(f"{doc.name} is grayscale: Colorize is selected", 6000)
            if doc.note:
                self.status.showMessage(doc.note, 8000)
        self._refresh_manip()

    def _on_tab(self, i: int) -> None:
        doc = self.docs[i] if 0 <= i < len(self.docs) else None
        self.set_current(doc)

    def set_current(self, doc: Document | None) -> None:
        self.current = doc
        if doc is None:
            self.canvas.set_document(None, None)
            self.timeline.set_data(None)
            self.setWindowTitle("DGP Studio")
        else:
            self.canvas.set_document(doc.qimage, doc.mask, doc.region)
            self.canvas.set_brush_size(doc.mask.brush_size)
            self.timeline.set_data(doc.timeline)
            self._show_result(doc)
            self.setWindowTitle(f"{doc.name} — DGP Studio")
        self._sync_progress()
        self._sync_brush_widgets()
        self._update_enabled()
        self._refresh_manip()

    def _sync_progress(self) -> None:
        """The progress bar describes the photo on screen (or the run, while one goes on)."""
        if self.worker is not None:
            return
        doc = self.current
        entry = self.cache.get(doc.id) if doc else None
        if entry is None:
            self.task_panel.set_progress(0, 1, "Ready" if doc else "Open a photo to start")
        else:
            r = entry.result
            state = "cancelled" if r.cancelled else "done"
            self.task_panel.set_progress(r.steps_done, max(1, r.preset.total_iterations),
                                         f"{entry.task}: {r.steps_done} iterations, {state}")

    def close_document(self, doc: Document) -> None:
        if self.worker is not None and self._run_doc is doc:
            self.show_error("This photo is being restored: cancel the run first (Esc).")
            return
        if not doc.exported and not doc.project_saved and not self.confirm(
                f"{doc.name} has a result that was neither exported nor saved as a project. Close it anyway?"):
            return
        self.autosave.discard(doc)
        i = self.docs.index(doc)
        self.docs.pop(i)
        self.cache.drop(doc.id)
        self.tabs.removeTab(i)
        if not self.docs:
            self.set_current(None)
        self._refresh_manip()

    def _cycle_doc(self, step: int) -> None:
        if self.docs:
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % len(self.docs))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = settings.read_list("recent_files")
        for p in items:
            a = self.recent_menu.addAction(Path(p).name)
            a.setToolTip(p)
            a.triggered.connect(lambda _c=False, p=p: self.open_paths([p]))
        self.recent_menu.setEnabled(bool(items))
        if items:
            self.recent_menu.addSeparator()
            clear = self.recent_menu.addAction("Clear the list")
            clear.triggered.connect(lambda: (settings.write_list("recent_files", []), self._fill_recent()))

    def _on_region(self, box) -> None:
        if self.current is not None:
            if tuple(box) != tuple(self.current.region):
                self.current.touch()
            self.current.region = tuple(box)
            self._update_region_hint()

    def _on_undo_index(self, _i: int) -> None:
        """After every finished mask edit (stroke, fill, undo, redo)."""
        if self._closing:
            return
        if self.current is not None and self.sender() is self.current.mask.undo_stack:
            self.current.touch()
        else:
            for d in self.docs:
                if self.sender() is d.mask.undo_stack:
                    d.touch()
        self._update_enabled()
        self._update_region_hint()

    def _sync_canvas_model_input(self) -> None:
        """The region label on the canvas says what the model gets for the current task."""
        tp, res = self.task_panel, self.gan.resolution if self.gan else None
        self.canvas.model_input_side = res and pipeline.input_side(res, tp.task(), tp.sr_factor_value(),
                                                                   tp.hybrid_parts())
        self.canvas.viewport().update()

    def _update_region_hint(self, timeout_ms: int = 4000) -> None:
        doc = self.current
        if doc is None:
            return
        left, top, side = doc.region
        res = self.gan.resolution if self.gan else None
        msg = f"Region {side}×{side} at ({left}, {top})"
        self._sync_canvas_model_input()
        n = self.canvas.model_input_side
        if n and pipeline.low_res(self.task_panel.task(), self.task_panel.hybrid_parts()):
            msg += f" → {n}×{n} model input, ×{res // n} → {res}×{res}"
            if side > n:  # shrunk for the model; the full-size result puts the photo's pixels back
                msg += " · the result keeps the photo's detail"
        elif n:
            msg += f" → {n}×{n} model input"
        if pipeline.needs_mask(self.task_panel.task(), self.task_panel.hybrid_parts()):
            msg += f" · {100 * doc.mask.hole_fraction(doc.region):.0f} % masked"
        self.status.showMessage(msg, timeout_ms)

    # == tools =============================================================================================
    def set_tool(self, tool: Tool) -> None:
        self.canvas.set_tool(tool)
        self.set_mode(0)

    def _sync_tool_buttons(self, name: str) -> None:
        t = Tool(name)
        if t in self.tool_actions:
            self.tool_actions[t].setChecked(True)
        self.brush_box.setEnabled(t in (Tool.BRUSH, Tool.ERASER) and self.current is not None)

    def _brush(self) -> float:
        return self.current.mask.brush_size if self.current else 20.0

    def _hardness(self) -> float:
        return self.current.mask.hardness if self.current else 0.8

    def set_hardness(self, h: float) -> None:
        if self.current:
            self.current.mask.hardness = min(1.0, max(0.0, h))
            self.hard_slider.blockSignals(True)
            self.hard_slider.setValue(int(round(self.current.mask.hardness * 100)))
            self.hard_slider.blockSignals(False)
            self.canvas.viewport().update()

    def _sync_brush_widgets(self, *_a) -> None:
        size = int(round(self._brush()))
        for w in (self.size_slider, self.size_spin):
            w.blockSignals(True)
            w.setValue(size)
            w.blockSignals(False)
        self.hard_slider.blockSignals(True)
        self.hard_slider.setValue(int(round(self._hardness() * 100)))
        self.hard_slider.blockSignals(False)

    def choose_mask_colour(self) -> None:
        if not self.current:
            return
        c = QColorDialog.getColor(self.current.mask.colour, self, "Mask overlay colour")
        if c.isValid():
            for d in self.docs:
                d.mask.set_colour(c)
            settings.set_value("mask_colour", c.name())
            self._sync_colour_button()

    def _sync_colour_button(self) -> None:
        col = self.current.mask.colour if self.current else QColor(settings.value("mask_colour", "#ff285a"))
        self.colour_btn.setStyleSheet(f"QToolButton {{ background: {col.name()}; border-radius: 4px; "
                                      "min-width: 18px; min-height: 18px; }")

    def undo(self) -> None:
        if self.current:
            self.current.mask.undo_stack.undo()

    def redo(self) -> None:
        if self.current:
            self.current.mask.undo_stack.redo()

    def set_compare(self, on: bool) -> None:
        self.actions["compare"].setChecked(on)
        self.canvas.set_compare(on)

    def set_mode(self, i: int) -> None:
        self.stack.setCurrentIndex(i)
        self.mode_group.button(i).setChecked(True)
        for a in self.canvas_only:  # brush, mask, zoom and compare belong to the canvas
            a.setVisible(i == 0)
        if i == 1:
            self._refresh_manip()

    # == masks =============================================================================================
    def load_mask_dialog(self) -> None:
        if not self.current:
            return
        path, _ = QFileDialog.getOpenFileName(self, "Load mask (white = fill)", "", OPEN_FILTER)
        if path:
            try:
                turned = self.current.mask.load_png(path, self.current.orientation)
            except Exception as e:  # noqa: BLE001
                self.show_error(f"Cannot read the mask: {e}")
                return
            if turned:
                from dgp_studio.core.maskimage import TURNED_NOTE
                self.status.showMessage(_sentence(TURNED_NOTE), 8000)

    def save_mask_dialog(self) -> None:
        if not self.current:
            return
        base = self.current.path.with_name(self.current.path.stem + "_mask.png") if self.current.path else "mask.png"
        path, _ = QFileDialog.getSaveFileName(self, "Save mask (white = fill)", str(base), "PNG (*.png)")
        if path:
            if self._is_original(path, self.current):
                return
            if self._write(path, lambda: self.current.mask.save_png(path)) is None:
                return
            self.status.showMessage(f"Mask saved to {path}", 5000)

    # == running ===========================================================================================
    def run_restoration(self) -> bool:
        doc = self.current
        if not self._can_start(doc):
            return False
        tp = self.task_panel
        try:
            preset = tp.preset()
            job = pipeline.build_job(doc, self.gan, tp.task(), preset, tp.classes.current(), tp.seed_value(),
                                     tp.sr_factor_value(), tp.hybrid_parts())
        except ValueError as e:
            self.show_error(str(e))
            return False
        tp.classes.note_used(job.class_id)
        self._start([job], doc, "restore")
        return True

    def run_diverse(self, queue: list) -> bool:
        doc = self.current
        if not self._can_start(doc) or not queue:
            return False
        tp = self.task_panel
        jobs, labels = [], []
        try:
            preset = tp.preset()
            for cid, seed in queue:
                label = f"{self.gan.class_name(cid)} · seed {seed}"
                jobs.append(pipeline.build_job(doc, self.gan, tp.task(), preset, cid, seed, tp.sr_factor_value(),
                                               tp.hybrid_parts(), label=label, with_composite=False))
                labels.append(label)
        except ValueError as e:
            self.show_error(str(e))
            return False
        entry = self.cache.get(doc.id)
        if entry is not None:
            entry.alternatives = []
        self.manip.show_diverse_pending(labels)
        self._start(jobs, doc, "diverse")
        return True

    def reconstruct_partner(self, doc_id: int) -> bool:
        """The morph partner needs its own (z, θ): the morphing preset with the identity φ."""
        doc = next((d for d in self.docs if d.id == doc_id), None)
        if not self._can_start(doc):
            return False
        from dgp_studio.core import presets
        p = presets.get("morphing")
        if self.task_panel.fast_mode():
            p = p.scaled(0.25)
        job = pipeline.build_job(doc, self.gan, "reconstruct", p, None, self.task_panel.seed_value())
        self._start([job], doc, "partner")
        return True

    def _can_start(self, doc) -> bool:
        if self.worker is not None:
            self.show_error("A restoration is already running: wait for it, or cancel it (Esc).")
            return False
        if self.gan is None:
            self.show_error("No model is loaded: see the note above the canvas.")
            return False
        if doc is None:
            self.show_error("Open a photo first (Ctrl+O, or drop it on the window).")
            return False
        return True

    def _start(self, jobs, doc: Document, kind: str) -> None:
        configure_threads()
        self.status.set_device(self.device)
        self._run_kind, self._run_doc, self._run_t0 = kind, doc, time.perf_counter()
        first = jobs[0]
        from .project_io import panel_settings
        doc.run_settings = dict(panel_settings(self.task_panel), task=first.task, preset=first.preset.to_dict(),
                                class_id=first.class_id, seed=first.seed)
        doc.timeline.reset(first.preset.clipped(self.gan.G.n_groups, self.gan.D.n_features), first.label)
        if doc is self.current:
            self.timeline.set_data(doc.timeline)
        if self.result_cache is not None:
            for job in jobs:
                try:
                    job.cache_key = run_cache.job_key(job, self.gan)
                except Exception:  # noqa: BLE001 - no key, no cache: the run simply happens
                    job.cache_key = None
        w = ReconstructionWorker(self.gan, jobs, device=self.device, result_cache=self.result_cache)
        w.jobStarted.connect(self._on_job_started)
        w.tick.connect(self._on_tick)
        w.snapshot.connect(self._on_snapshot)
        w.jobFinished.connect(self._on_job_finished)
        w.failed.connect(self._on_failed)
        w.finished.connect(self._on_worker_done)
        self.worker = w
        self.task_panel.set_running(True)
        self.task_panel.set_progress(0, first.preset.total_iterations, "Starting…")
        self._update_enabled()
        w.start()

    def set_paused(self, paused: bool) -> None:
        if self.worker is not None:
            self.worker.set_paused(paused)
            self.status.showMessage("Paused — Resume continues where it stopped" if paused else "Resumed", 4000)

    def cancel_run(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.status.showMessage("Cancelling…")

    def _on_job_started(self, i: int, job) -> None:
        self.optimise_calls += 1  # the worker announces only jobs that really optimise
        doc = self._run_doc
        if i > 0:
            doc.timeline.reset(job.preset.clipped(self.gan.G.n_groups, self.gan.D.n_features), job.label)
            if doc is self.current:
                self.timeline.set_data(doc.timeline)
        n = len(self.worker.jobs) if self.worker else 1
        self.timeline.show_caption(f"{job.label or job.task}: searching {job.preset.select_num} candidates…"
                                   + (f"  ({i + 1}/{n})" if n > 1 else ""))

    def _on_tick(self, t) -> None:
        doc = self._run_doc
        n = len(self.worker.jobs) if self.worker else 1
        prefix = f"{t.job_index + 1}/{n} · " if n > 1 else ""
        if t.phase == "search":
            self.task_panel.set_progress(0, t.total, f"{prefix}Searching the start… {100 * t.search_fraction:.0f} %")
            return
        doc.timeline.add_rows(t.rows)
        if doc is self.current:
            self.timeline.mark_dirty()
        self.task_panel.set_progress(t.step, t.total, f"{prefix}Stage {t.stage + 1}/{t.n_stages} · %p %")
        self.status.set_speed(t.it_per_s)

    def _on_snapshot(self, _i: int, snap) -> None:
        doc = self._run_doc
        doc.timeline.add_snapshot(snap)
        if doc is self.current:
            self.timeline.mark_dirty()

    def _on_job_finished(self, i: int, job, result) -> None:
        doc = self._run_doc
        kind = self._run_kind
        secs = time.perf_counter() - self._run_t0
        entry = CacheEntry(result, job.box, job.task, hole=job.hole, full_hole=job.full_hole)
        if job.cache_key and not result.cancelled:
            run_cache.tag(result, job.cache_key)
        if job.from_cache:  # nothing ran: the timeline shows the stored loss curve, no previews
            doc.timeline.reset(job.preset.clipped(self.gan.G.n_groups, self.gan.D.n_features),
                               job.label or "from the cache")
            doc.timeline.add_rows(run_cache.history_rows(result))
        doc.touch()
        doc.project_data = None  # a newer result: the opened project's ones no longer come back
        if kind == "diverse":
            existing = self.cache.get(doc.id)
            if existing is None:
                existing = entry
                self.cache.put(doc.id, entry)
            existing.alternatives.append((job.label, result))
            self.manip.set_diverse_item(i, tensor_to_qimage(result.final), job.label)
        else:
            entry.composite = job.composite
            self.cache.put(doc.id, entry)
            doc.exported = False
        doc.timeline.finished = i == len(self.worker.jobs) - 1 if self.worker else True
        if job.from_cache:
            msg = (f"Result taken from the cache — no optimisation ({result.steps_done} iterations stored, "
                   f"class {self.gan.class_name(result.class_id)})")
        elif result.cancelled:
            msg = f"Cancelled after {result.steps_done} iterations — the state reached is kept"
        elif result.stopped_early:
            msg = f"Stopped early at the target loss after {result.steps_done} iterations ({secs:.1f} s)"
        else:
            msg = f"Done: {result.steps_done} iterations in {secs:.1f} s · class {self.gan.class_name(result.class_id)}"
        self.status.showMessage(msg, 10000)
        self.task_panel.set_progress(result.steps_done, result.preset.total_iterations, msg.split(" — ")[0]
                                     if result.cancelled else ("From the cache" if job.from_cache else "Done"))
        if doc is self.current:
            self._show_result(doc)
            self.timeline.mark_dirty()
        self._refresh_manip()
        self._update_enabled()

    def _on_failed(self, _i: int, message: str) -> None:
        self.task_panel.set_progress(0, 1, "Failed")
        self.show_error(message)

    def _on_worker_done(self) -> None:
        w = self.worker
        self.worker = None
        if w is not None:
            w.deleteLater()
        if self._run_doc is not None:
            self._run_doc.timeline.finished = True
            if self._run_doc is self.current:
                self.timeline.mark_dirty()
        self.task_panel.set_running(False, can_run=self.gan is not None)
        self.status.set_speed(None)
        self._update_enabled()
        doc = self._run_doc
        if doc is not None and doc in self.docs and self.autosave.minutes > 0 and self.autosave.needs_autosave(doc):
            self.autosave.autosave(doc)  # a crash-safe point: the finished run is on disk

    # == result display ======================================================================================
    def _show_found_class(self, entry) -> None:
        """Beside the class picker: which class the search picked for the result on screen."""
        r = entry.result if entry is not None else None
        if r is None or not r.class_searched:
            self.task_panel.classes.set_found(None)
            return
        note = ("Its colours follow that class (the search cannot see colour): if they look wrong, pick another "
                "class above and run again." if colours_from_searched_class(r) else "")
        self.task_panel.classes.set_found(r.class_id, note)

    def _show_result(self, doc: Document) -> None:
        entry = self.cache.get(doc.id)
        self._show_found_class(entry)
        if entry is None:
            self.canvas.set_result(None)
            return
        left, top, side = entry.box
        box = QRectF(left, top, side, side)
        if entry.composite is not None and entry.composite.size == doc.image.size:
            w, h = entry.composite.size
            self.canvas.set_result(pil_to_qimage(entry.composite), QRectF(0, 0, w, h), focus=box)
        elif entry.composite is not None:  # the region, enlarged (hybrid with super-resolution)
            self.canvas.set_result(pil_to_qimage(entry.composite), box)
        else:
            self.canvas.set_result(tensor_to_qimage(entry.result.final), box)

    def _on_snapshot_shown(self, snap) -> None:
        """Scrubbing the timeline (or a live run) shows that snapshot on the canvas."""
        doc = self.current
        if doc is None:
            return
        if snap is None:
            self._show_result(doc)
            return
        entry = self.cache.get(doc.id)
        box = doc.region if (self.worker is not None and self._run_doc is doc) or entry is None else entry.box
        left, top, side = box
        res = snap.image.width()
        self.canvas.set_result(snap.display or snap.image, QRectF(left, top, side, side),
                               note=f"preview · step {snap.step} · {res} px")

    def result_image(self, doc: Document | None = None) -> Image.Image | None:
        doc = doc or self.current
        entry = self.cache.get(doc.id) if doc else None
        if entry is None:
            return None
        return entry.composite if entry.composite is not None else to_pil(entry.result.final)

    # == manipulation ======================================================================================
    def _refresh_manip(self) -> None:
        doc = self.current
        partners = [(d.id, d.name, self.cache.get(d.id)) for d in self.docs]
        self.manip.set_source(doc.id if doc else None, self.cache.get(doc.id) if doc else None, partners,
                              doc.name if doc else "")

    def _on_rendered(self, channel, rid, images, extra) -> None:
        if channel == "morph_export":
            self._save_morph(images, extra)
        else:
            self.manip.on_rendered(channel, rid, images, extra)

    def open_second(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Open the second photo", settings.value("last_dir", ""),
                                                OPEN_FILTER)
        if paths:
            docs = self.open_paths(paths, activate=False)
            self._refresh_manip()
            if docs:
                i = self.manip.m_partner.findData(docs[0].id)
                if i >= 0:
                    self.manip.m_partner.setCurrentIndex(i)

    def pick_diverse(self, index: int) -> None:
        doc = self.current
        entry = self.cache.get(doc.id) if doc else None
        if entry is None or not 0 <= index < len(entry.alternatives):
            return
        label, result = entry.alternatives[index]
        new = CacheEntry(result, entry.box, entry.task, hole=entry.hole, alternatives=entry.alternatives)
        self.setCursor(Qt.WaitCursor)
        full = pipeline.full_res_hole(doc, entry.box) if entry.hole is not None else None
        new.composite = pipeline.composite_back(doc, result, entry.box, entry.task, full)
        self.unsetCursor()
        self.cache.put(doc.id, new)
        doc.exported = False
        doc.touch()
        self._show_result(doc)
        self._refresh_manip()
        self.status.showMessage(f"Continuing with {label}", 5000)

    # == export ============================================================================================
    def export_result(self, path=None) -> Path | None:
        doc = self.current
        img = self.result_image(doc)
        if img is None:
            self.show_error("Nothing to export yet: run a restoration first (Ctrl+R).")
            return None
        entry = self.cache.get(doc.id)
        if path is None:
            base = default_export_name(doc.path, entry.task) if doc.path else Path.home() / f"{doc.name}.png"
            path, _ = QFileDialog.getSaveFileName(self, "Export result", str(base), EXPORT_FILTER)
            if not path:
                return None
        path = Path(path)
        if not path.suffix:
            path = path.with_suffix(".png")
        if self._is_original(path, doc):
            return None
        if path.suffix.lower() in (".png", ".webp"):
            img = _with_alpha(img, doc)
        if self._write(path, lambda: atomic_save(img, path, exif=doc.exif)) is None:
            return None
        doc.exported = True
        self.status.showMessage(f"Exported {path}", 6000)
        return path

    def _write(self, path, write):
        """``write()``'s result (what was written), or None after a message when it failed (disk
        full, no permission, not an image type); the editor keeps everything either way."""
        from dgp_studio.core.errors import write_error
        try:
            return write()
        except OSError as e:
            self.show_error(_sentence(write_error(path, e)))
        except ValueError as e:
            self.show_error(f"Cannot write {Path(path).name}: {e}")
        return None

    def _is_original(self, path, doc=None) -> bool:
        """Originals are never overwritten: writing over ``doc``'s photo, or any other open photo
        (a tab in the background is an original too), is refused with a message."""
        if not any(d is not None and d.path is not None and same_file(path, d.path) for d in (doc, *self.docs)):
            return False
        self.show_error(f"{Path(path).name} is the original photo: choose another name "
                        "(DGP Studio never overwrites originals).")
        return True

    def export_timeline(self, kind: str, path=None) -> Path | None:
        doc = self.current
        if doc is None or not doc.timeline.snapshots:
            self.show_error("The timeline is empty: run a restoration first.")
            return None
        if path is None:
            ext, filt = (".gif", "GIF (*.gif)") if kind == "gif" else (".png", "PNG (*.png)")
            base = doc.path.with_name(f"{doc.path.stem}_timeline{ext}") if doc.path else f"timeline{ext}"
            path, _ = QFileDialog.getSaveFileName(self, "Export timeline", str(base), filt)
            if not path:
                return None
        if self._is_original(path, doc):
            return None
        fn = export_gif if kind == "gif" else (lambda s, p: export_sheet(s, p, doc.timeline))
        out = self._write(path, lambda: fn(doc.timeline.snapshots, path))
        if out is None:
            return None
        self.status.showMessage(f"Timeline exported to {out}", 6000)
        return Path(out)

    def _export_images(self, kind: str, images: list, name: str, path=None) -> Path | None:
        if not images:
            self.show_error("Nothing rendered yet.")
            return None
        if path is None:
            base = (self.current.path.with_name(f"{self.current.path.stem}_{name}.png")
                    if self.current and self.current.path else f"{name}.png")
            path, _ = QFileDialog.getSaveFileName(self, "Export", str(base), EXPORT_FILTER)
            if not path:
                return None
        if self._is_original(path, self.current):
            return None
        pils = [qimage_to_pil(q) for q in images]  # the model's own pixels, as rendered
        img = grid_sheet(pils) if kind == "grid" else pils[0]
        out = self._write(path, lambda: atomic_save(img, path))
        if out is None:
            return None
        self.status.showMessage(f"Exported {out}", 6000)
        return Path(out)

    def export_morph(self, frames: int, path=None, layout: str | None = None) -> int | None:
        """Renders ``frames`` morph frames off the UI thread, then writes them as ``layout``: "gif"
        (there and back), "frames" (numbered PNGs) or "strip" (one image, the frames side by side
        from A to B); by default the file dialog's choice, or the extension's."""
        src = self._render_source()
        a = self.cache.get(self.current.id) if self.current else None
        b = self.manip.partner_entry()
        if src is None or a is None or b is None:
            self.show_error("Morph needs two restored photos.")
            return None
        if path is None:
            base = self.current.path.with_name(f"{self.current.path.stem}_morph.gif") if self.current.path \
                else "morph.gif"
            path, chosen = QFileDialog.getSaveFileName(self, "Export morph", str(base), ";;".join(MORPH_LAYOUTS))
            if not path:
                return None
            layout = layout or MORPH_LAYOUTS.get(chosen)
        path = Path(path)
        layout = layout or ("gif" if path.suffix.lower() == ".gif" else "frames")
        if layout == "gif" and path.suffix.lower() != ".gif":
            path = path.with_suffix(".gif")  # the GIF filter chosen, another extension typed
        elif layout == "strip" and (path.suffix.lower() not in RESULT_FORMATS or path.suffix.lower() == ".gif"):
            path = path.with_suffix(".png")  # e.g. the dialog's default name *_morph.gif kept with the strip type
        targets = [path] if layout != "frames" else [frame_path(path.with_suffix(""), i) for i in range(frames)]
        if any(self._is_original(t) for t in targets):
            return None
        gan, renderer, worker = src
        from dgp_studio.core import manipulate
        lams = [i / (frames - 1) for i in range(frames)]
        ra, rb = a.result, b.result
        self.status.showMessage(f"Rendering {frames} morph frames…")
        return worker.request("morph_export", lambda: (manipulate.morph(gan, ra, rb, lams, renderer=renderer),
                                                       (str(path), layout)))

    def _save_morph(self, images, target) -> None:
        path, layout = Path(target[0]), target[1]
        pils = [qimage_to_pil(q) for q in images]  # stills keep the model's pixels; the GIF is for viewing
        if layout == "gif":
            if self._write(path, lambda: write_gif([enlarge(im, VIEW_SIZE) for im in pils], path,
                                                   pingpong=True)) is None:
                return
            self.status.showMessage(f"Morph saved to {path}", 6000)
        elif layout == "strip":
            if self._write(path, lambda: atomic_save(grid_sheet(pils, cols=len(pils)), path)) is None:
                return
            self.status.showMessage(f"Morph strip saved to {path}", 6000)
        else:
            stem = path.with_suffix("")
            if self._write(path, lambda: write_frames(pils, stem)) is None:
                return
            self.status.showMessage(f"{len(pils)} frames saved as {stem.name}_000.png …", 6000)
        self.last_morph_export = path

    # == misc ==============================================================================================
    def _on_task_changed(self, _key: str) -> None:
        self._sync_canvas_model_input()
        if pipeline.needs_mask(self.task_panel.task(), self.task_panel.hybrid_parts()) and self.current:
            self.status.showMessage("Paint what to fill with the brush (B) or rectangle (R), inside the blue square",
                                    6000)
        elif pipeline.low_res(self.task_panel.task(), self.task_panel.hybrid_parts()):
            self._update_region_hint(10000)  # the region's size matters here: say what the model gets

    def _update_enabled(self) -> None:
        has_doc = self.current is not None
        running = self.worker is not None
        has_result = has_doc and self.cache.has(self.current.id)
        try:
            stack = self.current.mask.undo_stack if has_doc else None
            stack is not None and stack.count()
        except RuntimeError:  # the photo's mask is being destroyed (window closing)
            stack = None
        self.actions["undo"].setEnabled(bool(stack and stack.canUndo()))
        self.actions["redo"].setEnabled(bool(stack and stack.canRedo()))
        if stack is not None:
            self.actions["undo"].setText(f"Undo {stack.undoText()}".strip())
            self.actions["redo"].setText(f"Redo {stack.redoText()}".strip())
        for k in ("export",):
            self.actions[k].setEnabled(has_result)
        for k in ("close", "mask_fill", "mask_clear", "mask_invert", "zoom_in", "zoom_out", "zoom_fit", "zoom_100",
                  "zoom_region", "compare"):
            self.actions[k].setEnabled(has_doc)
        for a in (self.load_mask_action, self.save_mask_action):
            a.setEnabled(has_doc)
        has_tl = has_doc and bool(self.current.timeline.snapshots)
        self.gif_action.setEnabled(has_tl)
        self.sheet_action.setEnabled(has_tl)
        self.actions["run"].setEnabled(not running and self.gan is not None and has_doc)
        self.actions["pause"].setEnabled(running)
        self.actions["cancel"].setEnabled(running)
        self.task_panel.set_running(running, can_run=self.gan is not None and has_doc)
        self.brush_box.setEnabled(has_doc and self.canvas.tool in (Tool.BRUSH, Tool.ERASER))
        self.projects.update_enabled()

    def _retitle(self, doc: Document) -> None:
        """After a save renamed the photo's tab to its project."""
        if doc in self.docs:
            i = self.docs.index(doc)
            self.tabs.setTabText(i, doc.name)
            self.tabs.setTabToolTip(i, str(doc.project_path or doc.path or doc.name))
        if doc is self.current:
            self.setWindowTitle(f"{doc.name} — DGP Studio")

    def show_error(self, message: str) -> None:
        self.status.showMessage(message.splitlines()[0], 10000)
        self.last_error = message
        if getattr(self, "quiet", False):
            return
        box = QMessageBox(QMessageBox.Warning, "DGP Studio", message, QMessageBox.Ok, self)
        box.setTextFormat(Qt.PlainText)  # file names and messages may hold '<' or '&'
        box.setAttribute(Qt.WA_DeleteOnClose)
        box.open()  # window-modal, does not block the event loop

    def _confirm_dialog(self, question: str) -> bool:
        return QMessageBox.question(self, "DGP Studio", question) == QMessageBox.Yes

    def show_shortcuts(self) -> None:
        dlg = shortcuts.CheatSheet(self)
        dlg.setAttribute(Qt.WA_DeleteOnClose)
        dlg.open()

    def set_theme(self, choice: str) -> None:
        from .app import apply_theme
        self.theme_choice = choice
        settings.set_value("theme", choice)
        apply_theme(QApplication.instance(), choice)
        self.theme_actions[choice].setChecked(True)
        self.canvas.viewport().update()

    def _about(self) -> None:
        from dgp_studio import __version__
        QMessageBox.about(self, "About DGP Studio",
                          f"<b>DGP Studio {__version__}</b><br>Image restoration and manipulation with a Deep "
                          "Generative Prior (Pan et al., ECCV 2020): a BigGAN's latent code and weights are tuned, "
                          "block by block, until it reproduces your photo.")

    # == window events =====================================================================================
    def dragEnterEvent(self, e) -> None:
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:
        paths = [u.toLocalFile() for u in e.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.open_paths(paths)

    def _restore_layout(self) -> None:
        geo, state = settings.value("window/geometry"), settings.value("window/state")
        if geo is not None:
            self.restoreGeometry(geo)
        if state is not None:
            self.restoreState(state)

    def _save_layout(self) -> None:
        settings.set_value("window/geometry", self.saveGeometry())
        settings.set_value("window/state", self.saveState())

    def shutdown(self) -> None:
        """Stop the background threads (window close, tests)."""
        self._closing = True  # masks outlive the window's widgets: their callbacks now do nothing
        self.autosave.timer.stop()
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait(10000)
        self.render_worker.stop()
        self.projects.background.drain()  # a save in progress finishes before the window goes

    def closeEvent(self, e) -> None:
        unsaved = [d.name for d in self.docs if not d.exported and not d.project_saved]
        if unsaved and not self.confirm(f"Results neither exported nor saved as a project: {', '.join(unsaved)}. "
                                        "Quit anyway?"):
            e.ignore()
            return
        self._save_layout()
        self.shutdown()
        self.autosave.discard_all()  # a normal exit: nothing to recover next time
        super().closeEvent(e)
