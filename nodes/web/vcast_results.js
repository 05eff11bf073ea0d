// Shows the text a V-CAST node returns (the answer and its stats, a token set's summary, the file it
// saved) in read-only text boxes inside the node, where people, screen readers and tests can read it.
// The node's `text` output holds one string per box, in this order.
import { app } from "../../scripts/app.js";
import { ComfyWidgets } from "../../scripts/widgets.js";

const RESULT_BOXES = {
  VCast_PrefillGenerate: ["answer", "stats"],
  VCast_TokenSetInfo: ["summary"],
  VCast_SaveTokenSet: ["saved file"],
};

app.registerExtension({
  name: "vcast.ResultText",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    const boxes = RESULT_BOXES[nodeData.name];
    if (!boxes) return;

    const onNodeCreated = nodeType.prototype.onNodeCreated;
    nodeType.prototype.onNodeCreated = function () {
      onNodeCreated?.apply(this, arguments);
      for (const box of boxes) {
        const spec = ["STRING", { multiline: true, placeholder: `${box}: shown after a run` }];
        const { widget } = ComfyWidgets.STRING(this, `vcast ${box}`, spec, app);
        widget.serialize = false; // a result, not a setting: saved workflows keep only the settings
        widget.element.readOnly = true;
        widget.element.setAttribute("aria-label", `${nodeData.display_name}: ${box}`);
        widget.element.dataset.vcastResult = `${nodeData.name}/${box}`;
      }
    };

    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (message) {
      onExecuted?.apply(this, arguments);
      boxes.forEach((box, index) => {
        const widget = this.widgets?.find((w) => w.name === `vcast ${box}`);
        if (widget && message?.text?.[index] !== undefined) widget.value = message.text[index];
      });
    };
  },
});
